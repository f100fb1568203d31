# IRN for AdvCAM: IRNet on the CRF masks of pseudo_mask_advcam_voc.py, random
# walk on the CAM files of advcam_r50_voc_trainaug.py with IRN's background
# score 0.25 (irn_cam_r50_voc.py): AdvCAM's own value is not documented in
# advcam_r50_voc.py / _base_/advcam.py, so plain CAM's is kept.
#   python tools/train.py configs/c2am/irn_advcam_r50_voc.py
#   python tools/test.py configs/c2am/irn_advcam_r50_voc.py \
#       work_dirs/irn_advcam_r50_voc/epoch_3.pth
_base_ = ['./irn_cam_r50_voc.py']

train_dataloader = dict(
    dataset=dict(label_dir='work_dirs/pseudo_mask_advcam_voc/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/advcam_r50_voc_trainaug/cams',
    out_dir='work_dirs/irn_advcam_r50_voc/masks'))
