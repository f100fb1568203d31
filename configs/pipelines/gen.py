# The stages of tools/run_pipeline.py on the generated data (the default
# preset, `make demo`): ResNet-18 from random init, minutes on 2 CPU cores.
#   python tools/run_pipeline.py --preset gen --work-dir work_dirs/demo
#
# A method is its configs (mmc2am.pipeline.Methods turns them into stages):
#   classifier  trained with tools/train.py (unless trains=False), then
#               tested on its checkpoint with tools/test.py: the seeds
#   cams        the CAM files of train_aug (tools/test.py, same checkpoint)
#   crf         the CRF pseudo-masks from those CAM files
#   irn         IRNet on the CRF masks and its random walk (--refine irn)
# and the segmenter trains on the last refinement's masks
# (work_dirs/seg_<method>_<refine>). A method with `start` begins when that
# method's classifier is trained: it fine-tunes it (its config's
# load_from) or, with trains=False, tests that checkpoint in its own
# folders. Config names are those of mmc2am.utils.find_config, or paths
# relative to the pipeline config that names them.
#
# A new method is its configs and one entry here, or in a pipeline config of
# your own that inherits this one (tools/run_pipeline.py --pipeline FILE):
#   _base_ = ['<repository>/configs/pipelines/gen.py']
#   methods = dict(mine=dict(name='Mine', start='cam',
#                            classifier='mine_r18_gen.py'))

# the data the configs read, relative to the work folder
data_root = 'data/gen_voc/VOC2012'
# made there by tools/generate_voc.py with run_pipeline's generator options
generate_data = True
segmenter = 'deeplabv3plus_r18w32-d16_gen_pseudo.py'
# the method every run includes: the table's reference
reference = 'cam'
default_methods = ['cam', 'c2am', 'c2am_spatial']  # --methods' default
# A method's configs that its entry does not name: {method} is its key,
# {classifier} the stem of its classifier config.
stage_configs = dict(
    cams='{classifier}_trainaug.py',
    crf='crf_gen_{method}.py',
    irn='irn_r18_gen_{method}.py')
methods = dict(
    cam=dict(name='CAM', classifier='cam_r18_gen.py'),
    c2am=dict(name='C2AM', start='cam', classifier='c2am_r18_gen.py'),
    c2am_spatial=dict(
        name='C2AM spatial', start='cam',
        classifier='c2am_r18_gen_spatial.py'),
    recam=dict(name='ReCAM', start='cam', classifier='recam_r18_gen.py'),
    # AdvCAM trains nothing: a test mode of plain CAM's classifier
    # (configs/_base_/models/advcam.py)
    advcam=dict(
        name='AdvCAM', start='cam', trains=False,
        classifier='advcam_r18_gen.py'),
    # SEAM (configs/seam/README.md): two views, PCM, its losses; trains from
    # random init like CAM
    seam=dict(name='SEAM', classifier='seam_r18_gen.py'),
    # one CONTA round on SEAM's classifier, its confounder set from SEAM's
    # masks (no public code combines them: conta_seam_r18_gen.py)
    conta_seam=dict(
        name='CONTA+SEAM', start='seam', classifier='conta_seam_r18_gen.py',
        start_masks='custom_hooks.0.mask_dir'),
    # RCA without saliency (configs/rca/README.md): trains from random init
    # like CAM
    rca=dict(name='RCA', classifier='rca_r18_gen.py'),
    # CDA-style object-context recombination (issue 26): plain CAM
    # fine-tuned with PasteObjects, its object bank from CAM's masks (the
    # pipeline waits for them; --refine irn: IRN's)
    paste=dict(
        name='CAM + paste', start='cam', classifier='cam_r18_gen_paste.py',
        start_masks='train_dataloader.dataset.pipeline.1.mask_dir'),
    # issue 17's erase form (issue 26's best with pseudo-masks): plain CAM
    # fine-tuned with context-only negatives, erased by CAM's masks
    erase=dict(
        name='CAM + erase', start='cam', classifier='cam_r18_gen_erase.py',
        start_masks='train_dataloader.dataset.pipeline.1.mask_dir'),
    # erase + W-OoD's hardening and distance loss (issue 26)
    wood=dict(
        name='CAM + erase + W-OoD', start='cam',
        classifier='cam_r18_gen_wood.py',
        start_masks='train_dataloader.dataset.pipeline.1.mask_dir'),
)
# stages side by side (--jobs' default, at most the CPU count), each with
# one CPU thread (OMP_NUM_THREADS=1 unless set): the tiny CPU models gain
# little from a second thread
jobs = 2
stage_threads = 1
# tools/pipeline_figure.py at the end of a run (it draws generated images)
figure = True
# Seconds each stage took in the measured default run (README, 2 CPU cores,
# --jobs 2): the estimate of the time left and which ready stage starts
# first (the longest chain). Keys '<tool> <config stem>'; others count 60 s.
expected_seconds = {
    'train cam_r18_gen': 114,
    'test cam_r18_gen': 11,
    'test cam_r18_gen_trainaug': 30,
    'test crf_gen_cam': 9,
    'train c2am_r18_gen': 97,
    'test c2am_r18_gen': 19,
    'test c2am_r18_gen_trainaug': 65,
    'test crf_gen_c2am': 9,
    'train c2am_r18_gen_spatial': 96,
    'test c2am_r18_gen_spatial': 19,
    'test c2am_r18_gen_spatial_trainaug': 63,
    'test crf_gen_c2am_spatial': 9,
    'train deeplabv3plus_r18w32-d16_gen_pseudo': 230,  # 2400 its, measured
    'test deeplabv3plus_r18w32-d16_gen_pseudo': 10,  # 300 images, estimate
}
