# IRN for C2AM, spatial form: irn_r50_voc_c2am.py (background score 0.20) on
# the CRF masks of crf_voc_c2am_spatial.py and the CAM files of
# c2am_r50_voc_spatial_trainaug.py.
#   python tools/train.py configs/irn/irn_r50_voc_c2am_spatial.py
#   python tools/test.py configs/irn/irn_r50_voc_c2am_spatial.py \
#       work_dirs/irn_r50_voc_c2am_spatial/epoch_3.pth
_base_ = ['./irn_r50_voc_c2am.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_c2am_spatial/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r50_voc_spatial_trainaug/cams'))
