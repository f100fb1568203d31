# CRF pseudo-masks for C2AM: C2AM's thresholds t_fg 0.375 / t_bg 0.10, from
# the CAM files of voc_r50_trainaug.py.
#   python tools/test.py configs/c2am/pseudo_mask_c2am_voc.py
_base_ = ['./pseudo_mask_cam_voc.py']

model = dict(t_fg=0.375, t_bg=0.10)
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/voc_r50_trainaug/cams',
    out_dir='work_dirs/pseudo_mask_c2am_voc/masks'))
