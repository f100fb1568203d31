# IRNet on the generated VOC-layout data (tools/generate_voc.py, 64x64
# images): irn_r50_voc.py with a ResNet-18 from random init (no downloads),
# sizes for 64 px images and a schedule of a minute on 2 CPU cores.
#   python tools/make_pseudo_masks.py configs/c2am/pseudo_mask_gen.py \
#       --cfg-options cam_dir=work_dirs/<classifier>/cams
#   python tools/train.py configs/c2am/irn_r18_gen.py
#   python tools/make_irn_masks.py configs/c2am/irn_r18_gen.py \
#       work_dirs/irn_r18_gen/epoch_10.pth \
#       --cfg-options random_walk.cam_dir=work_dirs/<classifier>/cams
_base_ = ['./irn_r50_voc.py']

data_root = 'data/gen_voc/VOC2012'
label_dir = 'work_dirs/pseudo_mask_gen/pseudo_masks'
# a 64 px crop is a 16 x 16 boundary map: radius 10 (margin 9) leaves no
# source pixel, so the training pairs use the random walk's radius
crop_size = 64
radius = 5
batch_size = 8
max_epochs = 10

model = dict(
    data_preprocessor=dict(size=(crop_size, crop_size)),
    backbone=dict(depth=18, init_cfg=None),
    in_channels=(64, 64, 128, 256, 512),
    radius=radius,
    test_pad_size=None)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='IRNRandomRescale', scale_range=(0.5, 1.5)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='IRNRandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs'),
]
# Small images: worker processes would only compete for the CPU cores.
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, label_dir=label_dir, pipeline=train_pipeline))

param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5))

random_walk = dict(
    data_root=data_root,
    device='cpu')
