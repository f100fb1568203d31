# IRN for CONTA + SEAM: irn_r50_voc_seam.py on crf_voc_conta_seam.py's masks
# and conta_seam_r50_voc_trainaug.py's CAM files.
#   python tools/train.py configs/irn/irn_r50_voc_conta_seam.py
#   python tools/test.py configs/irn/irn_r50_voc_conta_seam.py \
#       work_dirs/irn_r50_voc_conta_seam/epoch_3.pth
_base_ = ['./irn_r50_voc_seam.py']

train_dataloader = dict(dataset=dict(
    label_dir='work_dirs/crf_voc_conta_seam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/conta_seam_r50_voc_trainaug/cams'))
