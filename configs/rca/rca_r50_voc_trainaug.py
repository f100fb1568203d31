# CAMs of train_aug for the pseudo-mask stages, RCA: cam_r50_voc_trainaug.py
# for rca_r50_voc.py (the fine per-class maps, multi-scale + flip).
#   python tools/test.py configs/rca/rca_r50_voc_trainaug.py \
#       work_dirs/rca_r50_voc/epoch_30.pth
_base_ = ['./rca_r50_voc.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
