# CRF pseudo-masks for AdvCAM, from the CAM files of
# advcam_r50_voc_trainaug.py. Thresholds: IRN's t_fg 0.30 / t_bg 0.05 of
# crf_voc_cam.py; the values AdvCAM's reference code used for this
# stage are not documented in advcam_r50_voc.py / _base_/advcam.py, so plain
# CAM's (IRN's) are kept.
#   python tools/test.py configs/crf/crf_voc_advcam.py
_base_ = ['./crf_voc_cam.py']

test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/advcam_r50_voc_trainaug/cams'))
