# IRN for C2AM: IRNet on the CRF masks of crf_voc_c2am.py, random
# walk with C2AM's background score 0.20 (yiping-wang/c2am HEAD
# cfg/c2am.yml:43, sem_seg_bg_thres) on the CAMs as they are (its
# make_sem_seg_labels.py reads cam_dict['cam']). The recipe of the recorded
# 51.4 / 69.6 (commit 7cb39df) used 0.21: irn_r50_voc_c2am_7cb39df.py.
#   python tools/train.py configs/irn/irn_r50_voc_c2am.py
#   python tools/test.py configs/irn/irn_r50_voc_c2am.py \
#       work_dirs/irn_r50_voc_c2am/epoch_3.pth
_base_ = ['./irn_r50_voc.py']

model = dict(test_cfg=dict(bg_thr=0.20, cam_power=1.0))
train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_c2am/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r50_voc_trainaug/cams'))
