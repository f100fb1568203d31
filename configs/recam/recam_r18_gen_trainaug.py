# CAMs of train_aug for the pseudo-mask stages, ReCAM: cam_r18_gen_trainaug.py
# for recam_r18_gen.py (the re-activated CAMs, its test mode).
#   python tools/test.py configs/recam/recam_r18_gen_trainaug.py \
#       work_dirs/recam_r18_gen/epoch_5.pth
_base_ = ['./recam_r18_gen.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
