# CRF pseudo-masks for C2AM, spatial form (c2am_r18_gen_spatial.py), on the
# generated data: crf_gen_cam.py's rule on this method's seed sweep
# and CAM files.
#   python tools/test.py configs/c2am/c2am_r18_gen_spatial.py \
#       work_dirs/c2am_r18_gen_spatial/epoch_5.pth  # the seeds: t* (first)
#   python tools/test.py configs/crf/crf_gen_c2am_spatial.py
_base_ = ['./crf_gen_c2am.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/c2am_r18_gen_spatial/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r18_gen_spatial_trainaug/cams'))
