# IRN for ReCAM: IRNet on the CRF masks of crf_voc_recam.py, random
# walk on the CAM files of recam_r50_voc_trainaug.py with IRN's background
# score 0.25 (irn_r50_voc_cam.py): ReCAM's own value is not documented in
# recam_r50_voc.py, so plain CAM's is kept.
#   python tools/train.py configs/irn/irn_r50_voc_recam.py
#   python tools/test.py configs/irn/irn_r50_voc_recam.py \
#       work_dirs/irn_r50_voc_recam/epoch_3.pth
_base_ = ['./irn_r50_voc_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_recam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/recam_r50_voc_trainaug/cams'))
