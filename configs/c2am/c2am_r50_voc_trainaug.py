# CAMs of train_aug for the pseudo-mask stages, C2AM (C2AM's scales): see
# cam_r50_voc_trainaug.py.
#   python tools/test.py configs/c2am/c2am_r50_voc_trainaug.py \
#       work_dirs/c2am_r50_voc/epoch_4.pth
_base_ = ['./c2am_r50_voc.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
