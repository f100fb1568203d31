# PASCAL VOC 2012, segmentation layout (mmseg's voc_aug.py converter), with
# image-level labels from the XML annotations (Annotations/<id>.xml: every
# <object><name>, difficult objects included), the labels of IRN's
# cls_labels.npy that the published IRN / C2AM numbers were trained with.
# train: train_aug (10,582 ids, SegmentationClassAug) with IRN's augmentation;
# val:   multi-label mAP on val (1,449 ids);
# test:  seeds on train (1,464 ids with the official masks).
dataset_type = 'VOCImageLevelDataset'
data_root = 'data/VOCdevkit/VOC2012'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # long side to a random value in [320, 640], aspect ratio kept
    dict(
        type='RandomResize',
        scale=(640, 640),
        ratio_range=(0.5, 1.0),
        keep_ratio=True,
        interpolation='bicubic',
        # PIL's bicubic (antialiased when shrinking), as IRN's pil_rescale
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # IRN's random_crop: a smaller image lands at a random offset of the
    # 512 x 512 canvas (mmpretrain's RandomCrop(pad_if_needed) centres it),
    # padded with the ImageNet mean (BGR: the image is BGR until the data
    # preprocessor) so the padding normalises to 0, as IRN pads with 0.
    dict(type='IRNRandomCrop', crop_size=512),
    dict(type='mmpretrain.PackInputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpretrain.PackInputs'),
]
# Seeds: the whole image and its mask (palette PNG: read with pillow to get
# the class ids); the CAMs are computed at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='mmcv.LoadAnnotations',
        with_bbox=False,
        with_label=False,
        with_seg=True,
        imdecode_backend='pillow'),
    dict(
        type='mmpretrain.PackInputs',
        algorithm_keys=('gt_seg_map', ),
        meta_keys=('sample_idx', 'img_id', 'img_path', 'seg_map_path',
                   'ori_shape', 'img_shape')),
]

# batch_size is the TOTAL over all processes (TotalBatchSampler): the
# reference stepped 16 images at a time on however many GPUs it had, so
# `dist_train.sh CFG 8` takes 2 per GPU and keeps its lr and steps per epoch
# (rather than mmengine's per-process batch with auto_scale_lr, which would
# train a different recipe). drop_last as IRN's loader.
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='TotalBatchSampler', drop_last=True),
    # one stacked (pinned) batch copied at once instead of a list of images
    # (the crops have one size); issue 15
    collate_fn=dict(type='default_collate'),
    pin_memory=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/trainaug.txt',
        label_source='xml',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        pipeline=train_pipeline))
# batch 1: images keep their own size (padding would change the GAP scores)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        label_source='xml',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        pipeline=val_pipeline,
        test_mode=True))
val_evaluator = [
    dict(type='mmpretrain.AveragePrecision'),
    dict(type='mmpretrain.MultiLabelMetric', average='macro'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        label_source='xml',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        pipeline=test_pipeline,
        test_mode=True))
test_evaluator = dict(type='SeedMetric')
