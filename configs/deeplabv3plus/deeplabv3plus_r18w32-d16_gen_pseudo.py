# DeepLabV3+ on pseudo-masks of the generated VOC-layout data
# (mmc2am.testing.generate_voc_dataset, 64x64 images): the real-data config
# shrunk to run in a few minutes on one CPU core. ResNet-18 (V1c) at half
# width (stem and base channels 32) and output stride 16, plain BN, random
# init (no downloads), 64x64 crops; trained on the pseudo-masks of train +
# aug, evaluated on the generated val split with its real masks.
# Why this size (C2AM's CRF masks of the demo, 69.0 train mIoU; val mIoU,
# one seed): full width at stride 8, 400 iterations: 60.7 (0.46 s/iter);
# full width, stride 16, 800: 62.7 (0.32 s/iter); half width, stride 16,
# 800: 62.4, 1200: 64.4 (0.16 s/iter): 1200 iterations of the small model
# cost what 400 of the large one did and reach 0.93x the masks.
# Issue 25 (300 val images, benchmarks/bench_segmenter_seeds.py on fixed
# masks): at 1200 iterations the score had not converged (C2AM's masks: +3
# to +7 val mIoU in the last 400 iterations, 51.9 +- 1.5 over 3 training
# seeds, 0.83x the masks); 2400 iterations reached 55.2 (one seed), 2x lr
# or an EMA of the weights at 1200 did not help (+0.8, -0.2). 1800
# iterations: 54.2 +- 0.3 over seeds 0-2, 0.87x the masks; with the test
# CRF (below) CAM / C2AM / C2AM spatial 60.9 +- 1.0 / 61.9 +- 0.3 /
# 61.1 +- 1.1. 2400 iterations, with the test CRF: 61.8 +- 0.8 /
# 62.9 +- 0.8 / 62.6 +- 0.7 (1.00-1.06x the masks; without it 53.4 +- 0.7
# / 55.2 +- 0.7 / 54.8 +- 0.7): the spread under 1.0 for all three.
_base_ = './deeplabv3plus_r50-d8_voc_pseudo.py'

data_root = 'data/gen_voc/VOC2012'
# The CRF masks of C2AM (tools/test.py configs/crf/crf_gen_c2am.py
# with its default work dir); --cfg-options train_dataloader.dataset.mask_dir=...
pseudo_mask_dir = 'work_dirs/crf_gen_c2am/masks'
crop_size = (64, 64)
max_iters = 2400

norm_cfg = dict(type='BN', requires_grad=True)
# Scored as the WSSS papers score their segmenters (DeepLab-v2 in C2AM's
# segmentation/configs/voc12.yaml): each val image's softmax refined by
# DeepLab's dense CRF, with its VOC settings unchanged (DEEPLAB_CRF, not
# tuned here). mmseg's EncoderDecoder otherwise: same weights. On the
# demo's masks (issue 25, benchmarks/README.md) the CRF adds about 8 val
# mIoU: the 16x-downsampled logits of 64 px images blur the objects' edges,
# which the CRF snaps back to the image's. `model.test_cfg.crf=None`
# scores without it (the pipeline reports both).
model = dict(
    type='mmc2am.CRFEncoderDecoder',
    test_cfg=dict(mode='whole', crf=dict()),
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        depth=18,
        stem_channels=32,
        base_channels=32,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=256,
        channels=128,
        c1_in_channels=32,
        c1_channels=12,
        dilations=(1, 6, 12, 18),  # mmseg's rates for output stride 16
        norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=64, norm_cfg=norm_cfg))

# The stock pipelines with VOC's 512 scale replaced by the crop size, and
# without PhotoMetricDistortion: the generated classes are told apart by
# colour, which its hue/saturation jitter blurs (measured: 400 iterations
# reached 33.5 val mIoU without it and with AdamW, 4-5 with the stock
# pipeline and SGD, which predicted background everywhere).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(crop_size[0] * 4, crop_size[0]),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(crop_size[0] * 4, crop_size[0]),
         keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# Loading 64x64 images is cheap next to the model; worker processes would
# only compete for the 2 cores.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        mask_dir=pseudo_mask_dir,
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# From random init, SGD at the stock lr 0.01 does not leave the
# all-background solution within a few hundred iterations; AdamW does.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=3e-3, weight_decay=0.01))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
