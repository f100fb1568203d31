# ReCAM (Chen et al., CVPR 2022, "Class Re-Activation Maps for Weakly-
# Supervised Semantic Segmentation"): fine-tune the plain-CAM classifier with
# an extra softmax cross-entropy on CAM-weighted features (ReCAMHead), next
# to the multi-label loss; the seeds are the CAMs of the re-activated model,
# relu((W_s * W) f) (the reference's make_recam.py).
# The published recipe (zhaozhengChen/ReCAM, run_sample.py + train_recam.py):
# from the trained CAM model, 4 epochs on train_aug, batch 16, IRN's
# augmentation, loss weight 1, lr 0.1 x 5e-4 on the backbone and the CAM
# classifier and 5e-4 on W_s, weight decay 1e-4, poly power 0.9, momentum
# 1e-4 (its PolyOptimizer has IRN's momentum slot bug), conv1/bn1 frozen and
# every ResNet stage trained (no stage2 detach), BatchNorm statistics frozen.
# The start, as ReCAM ran it: its own CAM network, trained by its
# step/train_cam.py:44 with layer1-2 trained (net/resnet50_cam.py:29-48 has
# no stage2 detach), which train_recam.py:49-51 loads (strict):
# cam_r50_voc_l12.py's checkpoint, not IRN's frozen-stage cam_r50_voc.py.
#   python tools/train.py configs/cam/cam_r50_voc_l12.py   # first
#   python tools/train.py configs/recam/recam_r50_voc.py
#   python tools/test.py configs/recam/recam_r50_voc.py \
#       work_dirs/recam_r50_voc/epoch_4.pth  # seeds on VOC train
# (the base, cam_r50_voc_l12.py, already trains layer1-2: frozen_stages=0,
# the stem frozen)
_base_ = ['../cam/cam_r50_voc_l12.py']

load_from = 'work_dirs/cam_r50_voc_l12/epoch_5.pth'

model = dict(
    # fine-tuning starts from load_from (W_s starts from PyTorch's init)
    backbone=dict(init_cfg=None, frozen_stages=0),
    head=dict(
        type='ReCAMHead',
        recam_loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
        cam_weight='product'))

optim_wrapper = dict(
    optimizer=dict(lr=5e-5),
    # the longest matching key wins: W_s (head.recam_conv) at 10x, the CAM
    # classifier (head.conv) at the backbone's lr
    paramwise_cfg=dict(custom_keys={
        'head': dict(lr_mult=1.0),
        'head.recam_conv': dict(lr_mult=10.0)
    }))
param_scheduler = dict(end=4)
train_cfg = dict(max_epochs=4)
