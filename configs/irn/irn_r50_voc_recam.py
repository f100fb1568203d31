# IRN for ReCAM: IRNet on the CRF masks of crf_voc_recam.py, random walk on
# the CAM files of recam_r50_voc_trainaug.py with ReCAM's background score
# 0.28 (zhaozhengChen/ReCAM run_sample.py:68, sem_seg_bg_thres) on the CAMs
# as they are (its step/make_sem_seg_labels.py:42 reads cam_dict['cam'];
# line 43, `np.power(cam, 1.5)  # AdvCAM`, is commented out).
#   python tools/train.py configs/irn/irn_r50_voc_recam.py
#   python tools/test.py configs/irn/irn_r50_voc_recam.py \
#       work_dirs/irn_r50_voc_recam/epoch_3.pth
_base_ = ['./irn_r50_voc_cam.py']

model = dict(test_cfg=dict(bg_thr=0.28, cam_power=1.0))
train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_recam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/recam_r50_voc_trainaug/cams'))
