# CRF pseudo-masks for C2AM as recorded at its commit 7cb39df
# (c2am_r50_voc_7cb39df.py): t_fg 0.38 / t_bg 0.10 (yiping-wang/c2am
# 7cb39df cfg/c2am.yml:35-36, conf_fg_thres / conf_bg_thres), from the CAM
# files of c2am_r50_voc_7cb39df_trainaug.py.
#   python tools/test.py configs/crf/crf_voc_c2am_7cb39df.py
_base_ = ['./crf_voc_cam.py']

model = dict(t_fg=0.38, t_bg=0.10)
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r50_voc_7cb39df_trainaug/cams'))
