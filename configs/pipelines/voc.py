# The stages of tools/run_pipeline.py on PASCAL VOC 2012 + SBD (README: data
# preparation), ResNet-50: gen.py's methods with the VOC configs.
#   python tools/run_pipeline.py --preset voc --work-dir work_dirs/voc
_base_ = ['./gen.py']

# a link in the work folder to --data-root (default: this folder of the
# repository)
data_root = 'data/VOCdevkit/VOC2012'
generate_data = False
segmenter = 'deeplabv3plus_r50-d8_voc_pseudo.py'
stage_configs = dict(crf='crf_voc_{method}.py', irn='irn_r50_voc_{method}.py')
methods = dict(
    cam=dict(classifier='cam_r50_voc.py'),
    c2am=dict(classifier='c2am_r50_voc.py'),
    c2am_spatial=dict(classifier='c2am_r50_voc_spatial.py'),
    recam=dict(classifier='recam_r50_voc.py'),
    advcam=dict(classifier='advcam_r50_voc.py'),
)
# one stage at a time with the threads the machine gives; no figure (it
# draws generated images); no measured stage times (each counts 60 s)
jobs = 1
stage_threads = None
figure = False
expected_seconds = dict(_delete_=True)
