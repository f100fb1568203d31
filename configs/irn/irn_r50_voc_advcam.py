# IRN for AdvCAM: IRNet on the CRF masks of crf_voc_advcam.py, random walk on
# the CAM files of advcam_r50_voc_trainaug.py raised to the power 1.5
# (jbeomlee93/AdvCAM step/make_sem_seg_labels.py:42,
# `cams = np.power(cam_dict['cam'], 1.5)`) with the background score 0.25
# (AdvCAM run_sample.py:62, sem_seg_bg_thres; IRN's value).
#   python tools/train.py configs/irn/irn_r50_voc_advcam.py
#   python tools/test.py configs/irn/irn_r50_voc_advcam.py \
#       work_dirs/irn_r50_voc_advcam/epoch_3.pth
_base_ = ['./irn_r50_voc_cam.py']

model = dict(test_cfg=dict(bg_thr=0.25, cam_power=1.5))
train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_advcam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/advcam_r50_voc_trainaug/cams'))
