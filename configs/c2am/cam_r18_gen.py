# Plain CAM on the generated VOC-layout data (tools/generate_voc.py, 64x64
# images): cam_r50_voc.py with a ResNet-18 from random init (no downloads),
# images scaled to the data and a schedule that runs in minutes on CPU; every
# stage and BatchNorm trains (see below).
#   python tools/generate_voc.py data/gen_voc/VOC2012 --num-train 200 \
#       --num-val 100 --num-aug 200   # the data the figures below were taken on
#   python tools/train.py configs/c2am/cam_r18_gen.py
_base_ = ['./cam_r50_voc.py']

data_root = 'data/gen_voc/VOC2012'
max_epochs = 20

# Random init (no downloads). IRN freezes the stem, layer1, layer2 and the
# BatchNorm statistics because they come from ImageNet; frozen *random* layers
# and BN statistics (mean 0, var 1) leave the model nothing to learn low-level
# features with (measured: val mAP 42.4 / seed mIoU 5.7 frozen, 67.0 / 25.8
# trained, 20 epochs), so here every stage and BN trains.
model = dict(
    backbone=dict(depth=18, init_cfg=None, frozen_stages=-1, norm_eval=False),
    head=dict(in_channels=512))

# The reference pipeline with sizes for 64 px images: long side in [64, 128],
# crop 96.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResize',
        scale=(128, 128),
        ratio_range=(0.5, 1.0),
        keep_ratio=True,
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomCrop',
        crop_size=96,
        pad_if_needed=True,
        pad_val=(103.53, 116.28, 123.675)),
    dict(type='PackInputs'),
]
# Small images: worker processes would only compete for the CPU cores.
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))

param_scheduler = dict(end=max_epochs)
# validating 30 images costs a third of an epoch here: every 5 epochs
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(logger=dict(interval=5))
