# CRF pseudo-masks for C2AM, spatial form: crf_voc_c2am.py (C2AM's
# thresholds 0.375 / 0.10) on the CAM files of c2am_r50_voc_spatial_trainaug.py.
#   python tools/test.py configs/crf/crf_voc_c2am_spatial.py
_base_ = ['./crf_voc_c2am.py']

test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r50_voc_spatial_trainaug/cams'))
