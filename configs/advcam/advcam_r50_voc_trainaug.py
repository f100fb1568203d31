# CAMs of train_aug for the pseudo-mask stages, AdvCAM (the test mode of the
# plain-CAM classifier, its checkpoint): see cam_r50_voc_trainaug.py. About
# 100x the cost of plain CAM files (advcam_r50_voc.py).
#   python tools/test.py configs/advcam/advcam_r50_voc_trainaug.py \
#       work_dirs/cam_r50_voc/epoch_5.pth
_base_ = ['./advcam_r50_voc.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
