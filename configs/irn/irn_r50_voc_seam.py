# IRN for SEAM: IRNet on the CRF masks of crf_voc_seam.py, random walk on the
# CAM files of seam_r50_voc_trainaug.py with IRN's background score 0.25
# (irn_r50_voc_cam.py). SEAM's own random walk is AffinityNet's
# (YudeWang/SEAM infer_aff.py: background (1 - max) ** 6, beta 8, logt 6),
# not this project's IRN stage, so IRN's values are kept.
#   python tools/train.py configs/irn/irn_r50_voc_seam.py
#   python tools/test.py configs/irn/irn_r50_voc_seam.py \
#       work_dirs/irn_r50_voc_seam/epoch_3.pth
_base_ = ['./irn_r50_voc_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_seam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/seam_r50_voc_trainaug/cams'))
