# CRF pseudo-masks for C2AM, spatial form: pseudo_mask_c2am_voc.py (C2AM's
# thresholds 0.375 / 0.10) on the CAM files of voc_r50_spatial_trainaug.py.
#   python tools/test.py configs/c2am/pseudo_mask_c2am_spatial_voc.py
_base_ = ['./pseudo_mask_c2am_voc.py']

test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/voc_r50_spatial_trainaug/cams',
    out_dir='work_dirs/pseudo_mask_c2am_spatial_voc/masks'))
