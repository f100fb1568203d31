# IRN for AdvCAM: IRNet on the CRF masks of crf_voc_advcam.py, random
# walk on the CAM files of advcam_r50_voc_trainaug.py with IRN's background
# score 0.25 (irn_r50_voc_cam.py): AdvCAM's own value is not documented in
# advcam_r50_voc.py / _base_/advcam.py, so plain CAM's is kept.
#   python tools/train.py configs/irn/irn_r50_voc_advcam.py
#   python tools/test.py configs/irn/irn_r50_voc_advcam.py \
#       work_dirs/irn_r50_voc_advcam/epoch_3.pth
_base_ = ['./irn_r50_voc_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_advcam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/advcam_r50_voc_trainaug/cams'))
