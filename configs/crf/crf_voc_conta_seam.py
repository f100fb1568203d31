# CRF pseudo-masks for CONTA + SEAM, from the CAM files of
# conta_seam_r50_voc_trainaug.py, with crf_voc_seam.py's thresholds (SEAM's
# background score 0.26: t_fg 0.26, t_bg 0.16).
#   python tools/test.py configs/crf/crf_voc_conta_seam.py
_base_ = ['./crf_voc_seam.py']

test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/conta_seam_r50_voc_trainaug/cams'))
