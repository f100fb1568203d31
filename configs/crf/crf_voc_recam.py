# CRF pseudo-masks for ReCAM: ReCAM's thresholds t_fg 0.35 / t_bg 0.10
# (zhaozhengChen/ReCAM run_sample.py:52-53, conf_fg_thres / conf_bg_thres,
# which its step/cam_to_ir_label.py:33-43 applies to the ReCAM CAMs), from
# the CAM files of recam_r50_voc_trainaug.py.
#   python tools/test.py configs/crf/crf_voc_recam.py
_base_ = ['./crf_voc_cam.py']

model = dict(t_fg=0.35, t_bg=0.10)
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/recam_r50_voc_trainaug/cams'))
