# CAMs of train_aug for the pseudo-mask stages, CONTA + SEAM: see
# cam_r50_voc_trainaug.py.
#   python tools/test.py configs/conta/conta_seam_r50_voc_trainaug.py \
#       work_dirs/conta_seam_r50_voc/epoch_8.pth
_base_ = ['./conta_seam_r50_voc.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
