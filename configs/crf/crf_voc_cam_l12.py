# CRF pseudo-masks for the layer1-2-trained CAM classifier (cam_r50_voc_l12.py,
# the start of ReCAM and of C2AM's 7cb39df recipe): plain CAM's (IRN's)
# thresholds t_fg 0.30 / t_bg 0.05 of crf_voc_cam.py (jiwoon-ahn/irn
# run_sample.py:35-36), from the CAM files of cam_r50_voc_l12_trainaug.py.
#   python tools/test.py configs/crf/crf_voc_cam_l12.py
_base_ = ['./crf_voc_cam.py']

test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r50_voc_l12_trainaug/cams'))
