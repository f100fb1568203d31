# DeepLab-v2 (MSC, summed dilated ASPP, dense CRF at test) on pseudo-masks of
# the generated VOC-layout data (mmc2am.testing.generate_voc_dataset, 64x64
# images): the VOC config shrunk to CPU minutes, so the pipeline can run the
# paper's segmenter family. Model: ResNet-18 at half width (stem and base
# channels 32, as configs/deeplabv3plus/deeplabv3plus_r18w32-d16_gen_pseudo.py)
# at DeepLab-v2's output stride 8, trained BN, random init (no downloads).
# ASPP rates scaled to the 8x8 map of a 64x64 crop as VOC's 6-12-18-24 are
# to the 41x41 map of a 321 crop (x 8/41, rounded): 1-2-4-5. The CRF keeps
# deeplab-pytorch's settings. Not tuned: no number measured with it yet.
# The data settings are those of the DeepLabV3+ generated-data config.
_base_ = './deeplabv2_r101-d8_voc_pseudo.py'

data_root = 'data/gen_voc/VOC2012'
# The CRF masks of C2AM (tools/test.py configs/crf/crf_gen_c2am.py
# with its default work dir); --cfg-options train_dataloader.dataset.mask_dir=...
pseudo_mask_dir = 'work_dirs/crf_gen_c2am/masks'
crop_size = (64, 64)
max_iters = 1200

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        depth=18,
        stem_channels=32,
        base_channels=32,
        norm_cfg=norm_cfg,
        norm_eval=False),
    # 21 classes: the generator draws its classes among VOC's ids
    decode_head=dict(in_channels=256, dilations=(1, 2, 4, 5)))

# as deeplabv3plus_r18w32-d16_gen_pseudo.py: VOC's scales around the crop,
# no photometric distortion
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
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
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

# from random init SGD stays at all-background (measured for DeepLabV3+ in
# its generated-data config); AdamW as there, no accumulation
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
