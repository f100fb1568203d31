# SEAM on the generated VOC-layout data (tools/generate_voc.py, 64x64
# images): seam_r50_voc.py's model, losses and inference with a ResNet-18 from
# random init (no downloads), cam_r18_gen.py's data, augmentation scaled to
# 64 px images (long side in [64, 128], crop 96) plus SEAM's colour jitter,
# and a schedule that runs in minutes on CPU; every stage and BatchNorm
# trains, as in cam_r18_gen.py (frozen random layers cannot learn).
# Schedule: SEAM's batch 8 for as many epochs as cam_r18_gen.py (15: 450
# steps of 8 against plain CAM's 225 of 16, the same images), SEAM's lr 0.01
# (x10 on the head and the PCM) with SGD momentum 0.9 instead of the
# reference's 5e-4 (from random init plain SGD barely trains: the reason of
# cam_r18_gen.py).
#   python tools/train.py configs/seam/seam_r18_gen.py
#   python tools/test.py configs/seam/seam_r18_gen.py \
#       work_dirs/seam_r18_gen/epoch_15.pth
_base_ = ['./seam_r50_voc.py']

data_root = 'data/gen_voc/VOC2012'
max_epochs = 15

model = dict(
    backbone=dict(
        depth=18,
        init_cfg=None,
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type='BN', requires_grad=True)),
    head=dict(in_channels=512, pcm=dict(in_channels=(128, 256))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResize',
        scale=(128, 128),
        ratio_range=(0.5, 1.0),
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
    dict(type='IRNRandomCrop', crop_size=96),
    dict(type='mmpretrain.PackInputs'),
]
# small images: worker processes would only compete for the CPU cores
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))

optim_wrapper = dict(optimizer=dict(momentum=0.9))
param_scheduler = dict(end=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(logger=dict(interval=5))
