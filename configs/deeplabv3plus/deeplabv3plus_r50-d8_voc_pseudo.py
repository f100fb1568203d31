# DeepLabV3+ (ResNet-50) trained on pseudo-masks of VOC train_aug, evaluated
# on VOC val with the real masks: mmseg's stock config with only the training
# dataset swapped.
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py'  # noqa: E501

custom_imports = dict(imports=['mmc2am'], allow_failed_imports=False)

# The random-walk masks of C2AM (tools/test.py configs/irn/irn_r50_voc_c2am.py
# with its default work dir). Relative to the current folder, not data_root;
# change it with --cfg-options train_dataloader.dataset.mask_dir=...
pseudo_mask_dir = 'work_dirs/irn_r50_voc_c2am/masks'

# The stock training set is VOC train + SBD aug with real masks
# (ConcatDataset); here it is train_aug with pseudo-masks, same pipeline.
# The config stays in mmseg's scope: mmc2am's dataset by its scope prefix.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='mmc2am.PseudoMaskDataset',
        data_root=_base_.data_root,
        data_prefix=dict(img_path='JPEGImages'),
        mask_dir=pseudo_mask_dir,
        ann_file='ImageSets/Segmentation/trainaug.txt',
        pipeline=_base_.train_pipeline))
