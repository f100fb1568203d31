# IRN for plain CAM: IRNet on the CRF masks of pseudo_mask_cam_voc.py, random
# walk with IRN's background score 0.25.
#   python tools/train.py configs/c2am/irn_cam_r50_voc.py
#   python tools/test.py configs/c2am/irn_cam_r50_voc.py \
#       work_dirs/irn_cam_r50_voc/epoch_3.pth
_base_ = ['./irn_r50_voc.py']

model = dict(test_cfg=dict(bg_thr=0.25))
train_dataloader = dict(
    dataset=dict(label_dir='work_dirs/pseudo_mask_cam_voc/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r50_voc_trainaug/cams',
    out_dir='work_dirs/irn_cam_r50_voc/masks'))
