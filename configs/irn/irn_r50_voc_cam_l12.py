# IRN for the layer1-2-trained CAM classifier (cam_r50_voc_l12.py): IRNet on
# the CRF masks of crf_voc_cam_l12.py, random walk with plain CAM's (IRN's)
# background score 0.25 (irn_r50_voc_cam.py; jiwoon-ahn/irn
# run_sample.py:52) on the CAM files of cam_r50_voc_l12_trainaug.py.
#   python tools/train.py configs/irn/irn_r50_voc_cam_l12.py
#   python tools/test.py configs/irn/irn_r50_voc_cam_l12.py \
#       work_dirs/irn_r50_voc_cam_l12/epoch_3.pth
_base_ = ['./irn_r50_voc_cam.py']

train_dataloader = dict(dataset=dict(
    label_dir='work_dirs/crf_voc_cam_l12/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r50_voc_l12_trainaug/cams'))
