# IRN for plain CAM: IRNet on the CRF masks of crf_voc_cam.py, random
# walk with IRN's background score 0.25.
#   python tools/train.py configs/irn/irn_r50_voc_cam.py
#   python tools/test.py configs/irn/irn_r50_voc_cam.py \
#       work_dirs/irn_r50_voc_cam/epoch_3.pth
_base_ = ['./irn_r50_voc.py']

model = dict(test_cfg=dict(bg_thr=0.25))
train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_cam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r50_voc_trainaug/cams'))
