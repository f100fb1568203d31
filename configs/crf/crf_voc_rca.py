# CRF pseudo-masks for RCA without saliency: IRN's thresholds (t_fg 0.30 /
# t_bg 0.05, crf_voc_cam.py) on the CAM files of rca_r50_voc_trainaug.py.
# RCA's own labels (maeve07/RCA gen_labels.py:58-93) take the background from
# saliency maps and have no thresholds to take over (configs/rca/README.md,
# differences, row 1).
#   python tools/test.py configs/crf/crf_voc_rca.py
_base_ = ['./crf_voc_cam.py']

test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/rca_r50_voc_trainaug/cams'))
