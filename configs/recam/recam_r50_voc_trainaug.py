# CAMs of train_aug for the pseudo-mask stages, ReCAM: see
# cam_r50_voc_trainaug.py.
#   python tools/test.py configs/recam/recam_r50_voc_trainaug.py \
#       work_dirs/recam_r50_voc/epoch_4.pth
_base_ = ['./recam_r50_voc.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
