# CRF pseudo-masks for C2AM, spatial form (c2am_spatial_r18_gen.py), on the
# generated data: pseudo_mask_cam_gen.py's rule on this method's seed sweep
# and CAM files.
#   python tools/test.py configs/c2am/c2am_spatial_r18_gen.py \
#       work_dirs/c2am_spatial_r18_gen/epoch_5.pth  # the seeds: t* (first)
#   python tools/test.py configs/c2am/pseudo_mask_c2am_spatial_gen.py
_base_ = ['./pseudo_mask_c2am_gen.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/c2am_spatial_r18_gen/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_spatial_r18_gen_trainaug/cams',
    out_dir='work_dirs/pseudo_mask_c2am_spatial_gen/masks'))
