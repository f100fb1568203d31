# Plain CAM classifier (IRN's recipe) on VOC 2012 train_aug.
#   python tools/train.py configs/cam/cam_r50_voc.py
#   python tools/test.py configs/cam/cam_r50_voc.py \
#       work_dirs/cam_r50_voc/epoch_5.pth  # seeds on VOC train
_base_ = [
    '../_base_/models/cam_r50.py', '../_base_/datasets/voc_cls.py',
    '../_base_/schedules/sgd_poly_5e.py', '../_base_/default_runtime.py'
]
