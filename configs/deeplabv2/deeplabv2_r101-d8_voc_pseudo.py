# DeepLab-v2 (ResNet-101, ASPP of summed dilated 3x3 branches, multi-scale
# inputs fused by max, dense-CRF post-processing) on pseudo-masks of VOC
# train_aug, evaluated on VOC val with the real masks: the segmenter of
# C2AM's val / test figures. File:line citations are of C2AM,
# github.com/yiping-wang/c2am @ae1639f, folder segmentation/ (configs/voc12.yaml,
# main.py, libs/models/{deeplabv2,msc,resnet}.py, libs/utils/crf.py,
# libs/datasets/base.py), a copy of deeplab-pytorch
# (github.com/kazuto1011/deeplab-pytorch @4219467) with C2AM's loss added.
# Differences from C2AM's run, listed in configs/deeplabv2/README.md:
# ImageNet weights of torchvision (C2AM: DeepLab's caffe ImageNet ResNet-101,
# "deeplabv1_resnet101-imagenet.pth", voc12.yaml:34), torchvision's
# normalisation (C2AM: BGR mean subtraction only), pytorch-style blocks and
# a stem max-pool without ceil_mode, per-iteration poly instead of every 10
# updates, scale rounding of mmcv's Resize, and the CRF on the true image.
# The config stays in mmseg's scope; mmc2am's components by their prefix.
_base_ = '../deeplabv3plus/deeplabv3plus_r50-d8_voc_pseudo.py'

crop_size = (321, 321)  # voc12.yaml:27 (IMAGE.SIZE.TRAIN)
# random scale of each training image, drawn from a list
# (voc12.yaml:11 DATASET.SCALES; base.py:169-170 random.choice)
train_scales = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
# 30000 updates (voc12.yaml:40 ITER_MAX) of 2 accumulated batches of 10
# (voc12.yaml:38 BATCH_SIZE.TRAIN, :41 ITER_SIZE; main.py:220-240): 20 images
# per update. mmengine counts forward passes, so 60000 iterations with
# optim_wrapper.accumulative_counts=2 (BN is frozen, so this equals batch 20).
max_iters = 60000

model = dict(
    _delete_=True,
    type='mmc2am.MSCEncoderDecoder',
    # torchvision's ImageNet normalisation (the weights'); size: pad each
    # training batch to the crop, images with 0 after normalisation (the
    # mean: base.py:187 pads with the mean) and labels with 255 (:188)
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=crop_size),
    # MSC: the image plus 0.5 and 0.75 copies, logits fused by max
    # (msc.py:7-41; libs/models/init.py:33-39 DeepLabV2_ResNet101_MSC);
    # losses of every scale and the max at the logits' size against
    # nearest-resized labels (main.py:232-236, resize_labels 82-89)
    msc_scales=(0.5, 0.75),
    downsample_labels=True,
    # torchvision's ImageNet ResNet-101 (C2AM: DeepLab's caffe ImageNet
    # ResNet-101, voc12.yaml:34); model.pretrained=None for random init (the
    # pipeline's --smoke sets it)
    pretrained='torchvision://resnet101',
    # ResNet-101 (voc12.yaml:32 N_BLOCKS 3-4-23-3) of output stride 8:
    # layer3 dilation 2, layer4 dilation 4 (deeplabv2.py:40-44), BN frozen
    # in eval mode and not trained (main.py:208 freeze_bn; only conv weights
    # are optimised, main.py:60-79 get_params)
    backbone=dict(
        type='ResNet',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=False,
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True),
    # ASPP of DeepLab-v2: rates 6-12-18-24 (voc12.yaml:33), 2048 -> 21 each,
    # summed (deeplabv2.py:11-29)
    decode_head=dict(
        type='mmc2am.ASPPV2Head',
        in_channels=2048,
        in_index=0,
        num_classes=21,  # voc12.yaml:9
        dilations=(6, 12, 18, 24),
        align_corners=False,
        ignore_index=255,  # voc12.yaml:10
        # C2AM's criterion_balance (main.py:27-40, used at :236): the mean of
        # the background and the foreground mean cross-entropy.
        # deeplab-pytorch's plain cross-entropy instead:
        # dict(type='CrossEntropyLoss', avg_non_ignore=True)
        loss_decode=dict(type='mmc2am.BgFgBalancedCELoss')),
    train_cfg=dict(),
    # whole image at its size (main.py test: no resize), then the CRF on the
    # softmax (main.py:523-594 crf, libs/utils/crf.py:7-34) with
    # voc12.yaml:52-58:
    # crf=dict() is mmc2am.models.segmentors.DEEPLAB_CRF (iter_max 10,
    # pos_w 3, pos_xy_std 1, bi_w 4, bi_xy_std 67, bi_rgb_std 3);
    # test_cfg.crf=None for the network alone
    test_cfg=dict(mode='whole', crf=dict()))

# random scale from the list, crop 321 (padding by the data preprocessor),
# flip (base.py:161-204); no photometric distortion, no cat_max_ratio
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomChoice',
        transforms=[[dict(type='Resize', scale_factor=s, keep_ratio=True)]
                    for s in train_scales]),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
# the image at its own size (main.py test / crf: augment=False)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=10, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# SGD lr 2.5e-4, momentum 0.9, weight decay 5e-4 (voc12.yaml:45-49); the
# ASPP weights at 10x, its biases at 20x without weight decay
# (main.py:161-181, get_params 60-79)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    accumulative_counts=2,
    optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(
        custom_keys={
            'decode_head': dict(lr_mult=10.0),
            'decode_head.aspp.0.bias': dict(lr_mult=20.0, decay_mult=0.0),
            'decode_head.aspp.1.bias': dict(lr_mult=20.0, decay_mult=0.0),
            'decode_head.aspp.2.bias': dict(lr_mult=20.0, decay_mult=0.0),
            'decode_head.aspp.3.bias': dict(lr_mult=20.0, decay_mult=0.0),
        }))
# poly, power 0.9, to 0 (voc12.yaml:48; lr_scheduler.py PolynomialLR, which
# steps every LR_DECAY=10 updates, voc12.yaml:44)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
# no validation while training (the reference has none); checkpoints every
# 5000 updates (voc12.yaml:42 ITER_SAVE)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=10000, max_keep_ckpts=2))
