# CAMs of train_aug for the pseudo-mask stages, AdvCAM: cam_r18_gen_trainaug.py
# for advcam_r18_gen.py (AdvCAM's test mode of the plain-CAM classifier: no
# training of its own, the checkpoint is cam_r18_gen's).
#   python tools/test.py configs/advcam/advcam_r18_gen_trainaug.py \
#       work_dirs/cam_r18_gen/epoch_15.pth
_base_ = ['./advcam_r18_gen.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
