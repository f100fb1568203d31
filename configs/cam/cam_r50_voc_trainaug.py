# CAMs of train_aug (10,582 images) for the pseudo-mask stages: the plain-CAM
# classifier's test mode on train_aug, one CAM file per image
# (CAMFileHook, <work_dir>/cams; a killed run resumes), seeds scored against
# SegmentationClassAug on the way.
#   python tools/test.py configs/cam/cam_r50_voc_trainaug.py \
#       work_dirs/cam_r50_voc/epoch_5.pth
_base_ = ['./cam_r50_voc.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
