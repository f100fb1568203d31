# IRN for plain CAM: IRNet on the CRF masks of crf_voc_cam.py, random
# walk with IRN's background score 0.25 (jiwoon-ahn/irn run_sample.py:52,
# sem_seg_bg_thres; CONTA's pseudo_mask/run_sample.py:52 has the same) on
# the CAMs as they are (cam_power 1: irn step/make_sem_seg_labels.py reads
# cam_dict['cam']).
#   python tools/train.py configs/irn/irn_r50_voc_cam.py
#   python tools/test.py configs/irn/irn_r50_voc_cam.py \
#       work_dirs/irn_r50_voc_cam/epoch_3.pth
_base_ = ['./irn_r50_voc.py']

model = dict(test_cfg=dict(bg_thr=0.25, cam_power=1.0))
train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_cam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r50_voc_trainaug/cams'))
