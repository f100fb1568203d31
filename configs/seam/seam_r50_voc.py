# SEAM (Wang et al., CVPR 2020, "Self-supervised Equivariant Attention
# Mechanism for Weakly Supervised Semantic Segmentation") on VOC 2012
# train_aug: the CAM classifier trained on the image and its 0.3x downscale
# (SEAMClassifier) with the Pixel Correlation Module and SEAM's losses
# (SEAMHead: classification with the background channel and the min-pooling
# term, equivariance L1, cross-view consistency on the top 20 %, weights 1);
# seeds from the PCM-refined CAMs, min-max normalised (SEAMCAM), SEAM's
# background score 0.26 one of SeedMetric's thresholds.
#   python tools/train.py configs/seam/seam_r50_voc.py
#   python tools/test.py configs/seam/seam_r50_voc.py \
#       work_dirs/seam_r50_voc/epoch_8.pth  # seeds on VOC train
# Where the values come from (YudeWang/SEAM):
# - train_SEAM.py lines 35-44: batch 8, 8 epochs, lr 0.01, weight decay
#   5e-4, crop 448; lines 60-70: long side random in [448, 768] (PIL
#   bicubic), flip, ColorJitter(0.3, 0.3, 0.3, 0.1), random crop 448 padded
#   with 0 after normalisation; lines 79-84: four groups, backbone weights
#   x1, biases x2 (no weight decay), new layers x10, their biases x20 (no
#   weight decay), poly power 0.9 per step. Its PolyOptimizer
#   (tool/torchutils.py line 13) calls SGD(params, lr, weight_decay), whose
#   third positional argument is the momentum: SEAM ran with momentum 5e-4
#   (plain SGD), as IRN's optimizer did (configs/README.md), weight decay
#   per group. The x2 / x20 groups hold no parameter here: the ResNet convs
#   and the new layers have no bias and BatchNorm is frozen
#   (bias_lr_mult=2, bias_decay_mult=0 keep the rule for a network that has
#   biases);
# - network/resnet38d.py lines 191-213: BatchNorm frozen (statistics and
#   affine), conv1a / b2 (the stem and the first stage) not trained: here
#   norm_eval, norm_cfg requires_grad=False and frozen_stages=1;
# - network/resnet38_SEAM.py: PCM on conv4 (512 ch) and conv5 (1024 ch) of
#   ResNet-38, 64 / 128 channels, embedding 192, Dropout2d(0.5) before the
#   classifier, 21 outputs (background first);
# - infer_SEAM.py: scales (0.5, 1.0, 1.5, 2.0) + flips, the PCM CAM,
#   min-max normalised, background score 0.26 (line 28).
# ResNet-50 (IRN's, output stride 16, ImageNet init) replaces ResNet-38
# (output stride 8, ImageNet init converted from MXNet): the PCM embeds
# layer2 (512 ch, stride 8, resized to the CAM's stride 16) and layer3
# (1024 ch). configs/seam/README.md lists the differences.
_base_ = [
    '../_base_/models/cam_r50.py', '../_base_/datasets/voc_cls.py',
    '../_base_/schedules/sgd_poly_5e.py', '../_base_/default_runtime.py'
]

max_epochs = 8

model = dict(
    type='SEAMClassifier',
    scale_factor=0.3,
    backbone=dict(
        out_indices=(1, 2, 3),  # layer2, layer3 for the PCM; layer4
        frozen_stages=1,
        norm_eval=True,
        norm_cfg=dict(type='BN', requires_grad=False)),
    head=dict(
        _delete_=True,
        type='SEAMHead',
        num_classes=20,
        in_channels=2048,
        pcm=dict(
            type='PixelCorrelationModule',
            in_channels=(512, 1024),
            mid_channels=(64, 128)),
        pcm_in_indices=(0, 1),
        dropout=0.5,
        ecr_ratio=0.2,
        min_pool_ratio=0.25),
    test_cfg=dict(
        mode='cam',
        scales=(0.5, 1.0, 1.5, 2.0),
        flip=True,
        cam_generator=dict(type='SEAMCAM', refine=True)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResize',
        scale=(768, 768),
        ratio_range=(448 / 768, 1.0),
        keep_ratio=True,
        interpolation='bicubic',
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # torchvision's ColorJitter on the RGB image, as SEAM's
    dict(
        type='SEAMColorJitter',
        brightness=0.3,
        contrast=0.3,
        saturation=0.3,
        hue=0.1),
    dict(type='IRNRandomCrop', crop_size=448),
    dict(type='mmpretrain.PackInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(lr=0.01, momentum=5e-4, weight_decay=5e-4),
    paramwise_cfg=dict(
        bias_lr_mult=2.0,
        bias_decay_mult=0.0,
        custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = dict(end=max_epochs)
train_cfg = dict(max_epochs=max_epochs)
