# CRF pseudo-masks (IRN's confident labels) for plain CAM: IRN's thresholds
# t_fg 0.30 / t_bg 0.05 (jiwoon-ahn/irn run_sample.py:35-36, conf_fg_thres /
# conf_bg_thres; CONTA's pseudo_mask/run_sample.py:35-36 has the same), from
# the CAM files of cam_r50_voc_trainaug.py.
#   python tools/test.py configs/crf/crf_voc_cam.py
# Writes work_dirs/crf_voc_cam/masks/<id>.png (VOC palette, 255 =
# ignore) for train_aug and scores the VOC train ones. The other methods'
# configs inherit this one and set what differs: the thresholds and the
# CAM files.
_base_ = [
    '../_base_/models/crf_confident_labels.py',
    '../_base_/datasets/voc_cam_masks.py', '../_base_/irn_runtime.py'
]

model = dict(t_fg=0.30, t_bg=0.05)
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r50_voc_trainaug/cams'))
# the masks: <work_dir>/masks (_base_/datasets/voc_cam_masks.py)
default_hooks = dict(mask_file=dict(type='MaskFileHook'))
