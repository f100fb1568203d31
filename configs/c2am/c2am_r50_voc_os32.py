# C2AM's released network, as it ran: the fine-tuning uses a torchvision
# ResNet-50 at output stride 32 (layer4 stride 2), BatchNorm in training mode
# while training and in eval mode at validation (its Net.train(mode) calls
# super().train(mode): yiping-wang/c2am HEAD net/resnet50_cam.py:36-37, and
# validate() calls eval(), train_c2am.py:15; here norm_eval=False and
# mmengine's ValLoop calls eval(): the same) and layer1-2 trainable
# (only the stem is frozen), while the CAMs are inferred at output stride 16:
#   python tools/train.py configs/c2am/c2am_r50_voc_os32.py
#   python tools/test.py configs/c2am/c2am_r50_voc_os32_cam16.py \
#       work_dirs/c2am_r50_voc_os32/epoch_4.pth
# c2am_r50_voc.py (the default) keeps IRN's network for both: stride 16, BN
# statistics frozen, stem + layer1 + layer2 frozen.
# Differences left: the global CAM is computed by this (stride-32) network
# before fine-tuning, the reference computed it with its stride-16 CAM
# network; the frozen stem's BN uses its running statistics here.
_base_ = ['./c2am_r50_voc.py']

model = dict(
    backbone=dict(strides=(1, 2, 2, 2), frozen_stages=0, norm_eval=False))
