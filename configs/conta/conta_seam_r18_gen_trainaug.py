# CAMs of train_aug for the pseudo-mask stages, CONTA + SEAM on the generated
# data: seam_r18_gen_trainaug.py for conta_seam_r18_gen.py.
#   python tools/test.py configs/conta/conta_seam_r18_gen_trainaug.py \
#       work_dirs/conta_seam_r18_gen/epoch_5.pth
_base_ = ['./conta_seam_r18_gen.py']

test_dataloader = dict(dataset=dict(
    ann_file='ImageSets/Segmentation/trainaug.txt',
    data_prefix=dict(seg_map_path='SegmentationClassAug')))
default_hooks = dict(cam_file=dict(type='CAMFileHook'))
