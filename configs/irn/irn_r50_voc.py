# IRNet (class-boundary branch) trained on the CRF confident labels, then
# IRN's random walk from the CAMs on its boundary maps (tools/test.py). The
# method's configs set what differs: the background score, the CRF masks
# and the CAM files: irn_r50_voc_cam.py (plain CAM, IRN), irn_r50_voc_c2am.py
# (C2AM), ...
# Reference (IRN's run_sample.py): frozen ImageNet ResNet-50, path radius 10,
# crop 512, rescale 0.5-1.5, flip, batch 32, 3 epochs, lr 0.1, weight decay
# 1e-4, poly (power 0.9) per iteration; random walk radius 5, beta 10,
# 2^8 steps.
_base_ = [
    '../_base_/models/irn_r50.py', '../_base_/datasets/voc_cam_masks.py',
    '../_base_/irn_runtime.py'
]

crop_size = 512
batch_size = 32
max_epochs = 3

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    dict(type='IRNRandomRescale', scale_range=(0.5, 1.5)),
    dict(type='mmseg.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='IRNRandomCrop', crop_size=crop_size),
    dict(type='mmseg.PackSegInputs'),
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
        data_root={{_base_.data_root}},
        ann_file='ImageSets/Segmentation/trainaug.txt',
        data_prefix=dict(img_path='JPEGImages'),
        label_dir=None,  # the CRF stage's masks: set by the method's config
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

# The random walk's masks scored on VOC train, and at each of these
# background scores from the same walk (the masks use model.test_cfg.bg_thr).
test_evaluator = dict(
    sweep_bg_thrs=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
                   0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95))
# the masks: <work_dir>/masks (_base_/datasets/voc_cam_masks.py)
default_hooks = dict(mask_file=dict(type='MaskFileHook'))
