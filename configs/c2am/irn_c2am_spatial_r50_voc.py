# IRN for C2AM, spatial form: irn_c2am_r50_voc.py (background score 0.20) on
# the CRF masks of pseudo_mask_c2am_spatial_voc.py and the CAM files of
# voc_r50_spatial_trainaug.py.
#   python tools/train.py configs/c2am/irn_c2am_spatial_r50_voc.py
#   python tools/test.py configs/c2am/irn_c2am_spatial_r50_voc.py \
#       work_dirs/irn_c2am_spatial_r50_voc/epoch_3.pth
_base_ = ['./irn_c2am_r50_voc.py']

train_dataloader = dict(
    dataset=dict(label_dir='work_dirs/pseudo_mask_c2am_spatial_voc/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/voc_r50_spatial_trainaug/cams',
    out_dir='work_dirs/irn_c2am_spatial_r50_voc/masks'))
