# The data of the pseudo-mask stages (tools/test.py): every train_aug image
# with its CAM file (the classifier's "CAMs of train_aug" run) and, for VOC
# train, its official mask to score against (PseudoMaskMetric). cam_dir is
# relative to the current folder.
# One PNG mask per image is written by MaskFileHook, as CAMFileHook writes
# the CAM files: to <work_dir>/masks (tools/test.py's default work dir:
# work_dirs/<config name>), or elsewhere with
#   --cfg-options default_hooks.mask_file.out_dir=DIR
# Finished masks are skipped on a rerun (their CAM files not even read) and
# scored from the files; a folder of masks made with other settings
# (.mask_params.json) is refused. The hook is set in the stage configs
# (crf/crf_voc_cam.py, irn/irn_r50_voc.py) beside their runtime's hooks.
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
        pipeline=cam_mask_pipeline))
test_evaluator = dict(type='PseudoMaskMetric')
test_cfg = dict(type='TestLoop')
