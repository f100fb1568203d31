# CRF pseudo-masks for SEAM, from the CAM files of seam_r50_voc_trainaug.py.
# Thresholds: crf_gen_cam.py's rule (t_fg = t*, t_bg = t* - 0.10) at SEAM's
# published background score t* = 0.26 (YudeWang/SEAM infer_SEAM.py line 28).
# SEAM's own next stage is AffinityNet's, trained on two CRF label sets
# whose background is (1 - max_c cam_c) ** alpha, alpha 4 and 24
# (infer_SEAM.py lines 31, 92-104); this project's stage is IRN's confident
# labels with constant background planes.
#   python tools/test.py configs/crf/crf_voc_seam.py
_base_ = ['./crf_voc_cam.py']

model = dict(t_fg=0.26, t_bg=0.16)
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/seam_r50_voc_trainaug/cams'))
