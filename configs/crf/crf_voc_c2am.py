# CRF pseudo-masks for C2AM: C2AM's thresholds t_fg 0.375 / t_bg 0.10, from
# the CAM files of c2am_r50_voc_trainaug.py.
#   python tools/test.py configs/crf/crf_voc_c2am.py
_base_ = ['./crf_voc_cam.py']

model = dict(t_fg=0.375, t_bg=0.10)
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r50_voc_trainaug/cams'))
