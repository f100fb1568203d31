# cam_r18_gen_trainaug.py for cam_r18_gen_erase.py: its CAM files of
# train_aug, for crf_gen_erase.py (tools/run_pipeline.py --methods erase).
_base_ = ['./cam_r18_gen_erase.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
