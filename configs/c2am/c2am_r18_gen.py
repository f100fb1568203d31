# C2AM on the generated data: voc_r50.py with the sizes, depth and schedule of
# cam_r18_gen.py, fine-tuning cam_r18_gen's last checkpoint.
#   python tools/train.py configs/c2am/cam_r18_gen.py    # first
#   python tools/train.py configs/c2am/c2am_r18_gen.py
_base_ = ['./voc_r50.py']

data_root = 'data/gen_voc/VOC2012'
max_epochs = 5
load_from = 'work_dirs/cam_r18_gen/epoch_20.pth'

# Random init (no downloads). IRN freezes the stem, layer1, layer2 and the
# BatchNorm statistics because they come from ImageNet; frozen *random* layers
# and BN statistics (mean 0, var 1) leave the model nothing to learn low-level
# features with (measured: val mAP 42.4 / seed mIoU 5.7 frozen, 67.0 / 25.8
# trained, 20 epochs), so here every stage and BN trains.
model = dict(
    backbone=dict(depth=18, init_cfg=None, frozen_stages=-1, norm_eval=False),
    head=dict(in_channels=512))

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
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))

custom_hooks = [
    dict(
        type='GlobalCAMHook',
        scales=(1.0, 0.5, 1.5, 2.0),
        flip=True,
        reduce='by_class',
        num_workers=0,
        priority='ABOVE_NORMAL')
]

param_scheduler = dict(end=max_epochs)
# validating 30 images costs a third of an epoch here: every 5 epochs
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(logger=dict(interval=5))
