# IRN for C2AM: IRNet on the CRF masks of pseudo_mask_c2am_voc.py, random
# walk with C2AM's background score 0.20.
#   python tools/train.py configs/c2am/irn_c2am_r50_voc.py
#   python tools/test.py configs/c2am/irn_c2am_r50_voc.py \
#       work_dirs/irn_c2am_r50_voc/epoch_3.pth
_base_ = ['./irn_r50_voc.py']

model = dict(test_cfg=dict(bg_thr=0.20))
train_dataloader = dict(
    dataset=dict(label_dir='work_dirs/pseudo_mask_c2am_voc/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/voc_r50_trainaug/cams',
    out_dir='work_dirs/irn_c2am_r50_voc/masks'))
