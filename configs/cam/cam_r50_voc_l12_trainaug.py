# CAMs of train_aug of the layer1-2-trained CAM classifier
# (cam_r50_voc_l12.py) for its pseudo-mask stages (crf_voc_cam_l12.py,
# irn_r50_voc_cam_l12.py): see cam_r50_voc_trainaug.py.
#   python tools/test.py configs/cam/cam_r50_voc_l12_trainaug.py \
#       work_dirs/cam_r50_voc_l12/epoch_5.pth
_base_ = ['./cam_r50_voc_l12.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
