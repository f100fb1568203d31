# cam_r50_voc_trainaug.py for cam_r18_gen.py (generated data).
_base_ = ['./cam_r18_gen.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
