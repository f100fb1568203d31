# The data of the pseudo-mask stages (tools/test.py): every train_aug image
# with its CAM file (the classifier's "CAMs of train_aug" run) and, for VOC
# train, its official mask to score against. One PNG mask per image is
# written to out_dir by PseudoMaskMetric; finished ones are skipped on a
# rerun. cam_dir and out_dir are relative to the current folder.
data_root = 'data/VOCdevkit/VOC2012'

cam_mask_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='PackCAMInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    # round_up=False: no image twice across processes
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='CAMFileDataset',
        data_root=data_root,
        ann_file='ImageSets/Segmentation/trainaug.txt',
        # ground truth where it exists: VOC train (1,464 images)
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        cam_dir=None,  # set by the method's config
        out_dir=None,
        pipeline=cam_mask_pipeline))
test_evaluator = dict(type='PseudoMaskMetric')
test_cfg = dict(type='TestLoop')
