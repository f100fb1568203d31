# IRN for C2AM as recorded at its commit 7cb39df (c2am_r50_voc_7cb39df.py):
# IRNet on the CRF masks of crf_voc_c2am_7cb39df.py, random walk with the
# background score 0.21 (yiping-wang/c2am 7cb39df cfg/c2am.yml:44,
# sem_seg_bg_thres; IRNet's training: lines 37-43, IRN's) on the CAMs of
# c2am_r50_voc_7cb39df_trainaug.py as they are (7cb39df
# make_sem_seg_labels.py:53 reads cam_dict['cam']).
#   python tools/train.py configs/irn/irn_r50_voc_c2am_7cb39df.py
#   python tools/test.py configs/irn/irn_r50_voc_c2am_7cb39df.py \
#       work_dirs/irn_r50_voc_c2am_7cb39df/epoch_3.pth
_base_ = ['./irn_r50_voc.py']

model = dict(test_cfg=dict(bg_thr=0.21, cam_power=1.0))
train_dataloader = dict(dataset=dict(
    label_dir='work_dirs/crf_voc_c2am_7cb39df/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r50_voc_7cb39df_trainaug/cams'))
