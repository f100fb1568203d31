# seam_r50_voc_trainaug.py for seam_r18_gen.py (generated data).
#   python tools/test.py configs/seam/seam_r18_gen_trainaug.py \
#       work_dirs/seam_r18_gen/epoch_15.pth
_base_ = ['./seam_r18_gen.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
