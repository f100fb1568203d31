# AdvCAM seeds of the plain-CAM classifier (any trained CAM classifier works:
# AdvCAM is the CAM generator of the test mode only, see
# _base_/models/advcam.py).
#   python tools/test.py configs/advcam/advcam_r50_voc.py \
#       work_dirs/cam_r50_voc/epoch_5.pth  # seeds on VOC train
# About 100x the cost of plain multi-scale CAMs per image
# (benchmarks/bench_advcam.py).
_base_ = ['../cam/cam_r50_voc.py', '../_base_/models/advcam.py']

model = dict(test_cfg=dict(cam_generator={{_base_.advcam_generator}}))
