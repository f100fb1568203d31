# IRNet (class-boundary branch) on the confident pseudo-masks, then IRN's
# random walk, as in IRN / C2AM:
#   python tools/make_pseudo_masks.py configs/c2am/pseudo_mask_voc.py \
#       --cfg-options cam_dir=work_dirs/<classifier>/cams
#   python tools/train.py configs/c2am/irn_r50_voc.py
#   python tools/make_irn_masks.py configs/c2am/irn_r50_voc.py \
#       work_dirs/irn_r50_voc/epoch_3.pth \
#       --cfg-options random_walk.cam_dir=work_dirs/<classifier>/cams
# Reference (IRN's run_sample.py): frozen ImageNet ResNet-50, path radius 10,
# crop 512, rescale 0.5-1.5, flip, batch 32, 3 epochs, lr 0.1, weight decay
# 1e-4, poly (power 0.9) per iteration; random walk radius 5, beta 10,
# 2^8 steps.
default_scope = 'mmseg'
custom_imports = dict(imports=['mmc2am'], allow_failed_imports=False)

data_root = 'data/VOCdevkit/VOC2012'
# Confident labels (fg / bg / 255) of tools/make_pseudo_masks.py with
# configs/c2am/pseudo_mask_voc.py and its default work dir.
label_dir = 'work_dirs/pseudo_mask_voc/pseudo_masks'
crop_size = 512
radius = 10
batch_size = 32
max_epochs = 3

model = dict(
    type='IRNet',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(crop_size, crop_size)),
    # IRN: torchvision's ImageNet ResNet-50, strides (2, 2, 2, 1) counting
    # the stem, i.e. output stride 16; frozen by the model.
    backbone=dict(
        type='ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        out_indices=(0, 1, 2, 3),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    in_channels=(64, 256, 512, 1024, 2048),
    in_strides=(4, 4, 8, 16, 16),
    channels=32,
    num_groups=4,
    radius=radius,
    num_classes=21,
    ignore_index=255,
    # IRN's EdgeDisplacement pads every test image to its crop size
    test_pad_size=crop_size,
    test_flip=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='IRNRandomRescale', scale_range=(0.5, 1.5)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='IRNRandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # batch_size is the total over all processes, as the reference's 32;
    # IRN drops the last incomplete batch
    batch_sampler=dict(type='TotalBatchSampler', drop_last=True),
    dataset=dict(
        type='IRNAffinityDataset',
        data_root=data_root,
        ann_file='ImageSets/Segmentation/trainaug.txt',
        data_prefix=dict(img_path='JPEGImages'),
        label_dir=label_dir,
        pipeline=train_pipeline))

# Only the boundary branch has gradients. IRN's PolyOptimizer passes the
# weight decay positionally into SGD's momentum slot, so the reference ran
# with momentum 1e-4 (plain SGD in effect) and weight decay 1e-4 in its
# param groups.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=1e-4, weight_decay=1e-4))
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
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

# Random walk (tools/make_irn_masks.py): boundary map -> affinities within
# `radius` ** beta -> transition matrix -> the stride-4 CAMs walked
# 2 ** exp_times steps -> upsampled, background score bg_thr -> PNG masks.
random_walk = dict(
    data_root=data_root,
    ann_file='ImageSets/Segmentation/trainaug.txt',
    img_dir='JPEGImages',
    img_suffix='.jpg',
    cam_dir=None,  # required: CAM files of the classifier's test run
    out_dir=None,  # None: <work_dir>/irn_masks
    radius=5,
    beta=10,
    exp_times=8,
    # C2AM's value; IRN (plain CAM) uses 0.25
    bg_thr=0.20,
    # None: CUDA if available, else CPU
    device=None,
    # the evaluated images are also scored at each of these background
    # scores (one walk per image; the masks use bg_thr); None: no sweep
    sweep_bg_thrs=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
                   0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95),
    # pseudo-mask mIoU on VOC train (1,464 images); None skips it
    evaluation=dict(
        ann_file='ImageSets/Segmentation/train.txt',
        gt_dir='SegmentationClass',
        num_classes=21))

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1,
                    max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
