# CAMs of train_aug for the pseudo-mask stages, C2AM's 7cb39df recipe
# (c2am_r50_voc_7cb39df.py: IRN's four scales, as its make_cam.py:68, 77-79
# uses them): see cam_r50_voc_trainaug.py.
#   python tools/test.py configs/c2am/c2am_r50_voc_7cb39df_trainaug.py \
#       work_dirs/c2am_r50_voc_7cb39df/epoch_4.pth
_base_ = ['./c2am_r50_voc_7cb39df.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
