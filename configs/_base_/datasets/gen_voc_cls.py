# The generated VOC-layout data (tools/generate_voc.py, 64x64 images) for the
# classifier stage: voc_cls.py with the data root, IRN's augmentation scaled
# to 64 px images (long side in [64, 128], crop 96) and no loader workers.
_base_ = ['./voc_cls.py']

data_root = 'data/gen_voc/VOC2012'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResize',
        scale=(128, 128),
        ratio_range=(0.5, 1.0),
        keep_ratio=True,
        interpolation='bicubic',
        # PIL's bicubic (antialiased when shrinking), as IRN's pil_rescale
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='IRNRandomCrop', crop_size=96),
    dict(type='mmpretrain.PackInputs'),
]
# Small images: worker processes would only compete for the CPU cores.
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,  # CPU runs
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
