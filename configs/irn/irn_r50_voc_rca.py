# IRN for RCA without saliency: IRNet on the CRF masks of crf_voc_rca.py,
# random walk on the CAM files of rca_r50_voc_trainaug.py with IRN's
# background score 0.25 (irn_r50_voc_cam.py; RCA trains a segmenter on its
# saliency-based labels and has no random walk).
#   python tools/train.py configs/irn/irn_r50_voc_rca.py
#   python tools/test.py configs/irn/irn_r50_voc_rca.py \
#       work_dirs/irn_r50_voc_rca/epoch_3.pth
_base_ = ['./irn_r50_voc_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_rca/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/rca_r50_voc_trainaug/cams'))
