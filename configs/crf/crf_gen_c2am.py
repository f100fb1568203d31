# CRF pseudo-masks for C2AM on the generated data: crf_gen_cam.py's
# rule (thresholds from the method's own seed sweep, t_fg = t*,
# t_bg = t* - 0.10; VOC's C2AM constants 0.375 / 0.10 are in
# crf_voc_c2am.py) on C2AM's seed sweep and CAM files.
#   python tools/test.py configs/c2am/c2am_r18_gen.py \
#       work_dirs/c2am_r18_gen/epoch_5.pth          # the seeds: t* (first)
#   python tools/test.py configs/crf/crf_gen_c2am.py
_base_ = ['./crf_gen_cam.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/c2am_r18_gen/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r18_gen_trainaug/cams'))
