# CRF pseudo-masks for ReCAM, from the CAM files of recam_r50_voc_trainaug.py.
# Thresholds: IRN's t_fg 0.30 / t_bg 0.05 of pseudo_mask_cam_voc.py; the
# values ReCAM's reference code used for this stage are not documented in
# recam_r50_voc.py, so plain CAM's (IRN's) are kept.
#   python tools/test.py configs/c2am/pseudo_mask_recam_voc.py
_base_ = ['./pseudo_mask_cam_voc.py']

test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/recam_r50_voc_trainaug/cams',
    out_dir='work_dirs/pseudo_mask_recam_voc/masks'))
