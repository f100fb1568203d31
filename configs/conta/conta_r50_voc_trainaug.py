# CAMs of train_aug (10,582 images) from the CONTA round's classifier, for
# its pseudo-mask stages (crf_voc_conta.py, irn_r50_voc_conta.py): its test
# mode on train_aug, one CAM file per image (CAMFileHook, <work_dir>/cams),
# as cam_r50_voc_trainaug.py does for plain CAM.
#   python tools/test.py configs/conta/conta_r50_voc_trainaug.py \
#       work_dirs/conta_r50_voc/epoch_5.pth
_base_ = ['./conta_r50_voc.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
