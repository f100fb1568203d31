# CAMs of train_aug for the pseudo-mask stages, RCA: cam_r18_gen_trainaug.py
# for rca_r18_gen.py (the fine per-class maps, its test mode).
#   python tools/test.py configs/rca/rca_r18_gen_trainaug.py \
#       work_dirs/rca_r18_gen/epoch_15.pth
_base_ = ['./rca_r18_gen.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
