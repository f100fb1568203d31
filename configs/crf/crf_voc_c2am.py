# CRF pseudo-masks for C2AM: C2AM's thresholds t_fg 0.375 / t_bg 0.10
# (yiping-wang/c2am HEAD cfg/c2am.yml:34-35, conf_fg_thres / conf_bg_thres),
# from the CAM files of c2am_r50_voc_trainaug.py. The recipe of the recorded
# 51.4 / 69.6 (commit 7cb39df) used 0.38 / 0.10: crf_voc_c2am_7cb39df.py.
#   python tools/test.py configs/crf/crf_voc_c2am.py
_base_ = ['./crf_voc_cam.py']

model = dict(t_fg=0.375, t_bg=0.10)
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r50_voc_trainaug/cams'))
