# c2am_r50_voc_trainaug.py for c2am_r18_gen.py (generated data).
_base_ = ['./c2am_r18_gen.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
