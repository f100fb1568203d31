# "erase_paste" form for issue 26: both data interventions at once,
# cam_r18_gen_erase.py (the control + EraseObjects: context-only negatives)
# plus cam_r18_gen_paste.py's PasteObjects (objects on contexts they do not
# go with), both from the start point's CRF pseudo-masks.
#   python tools/test.py configs/crf/crf_gen_cam.py # the masks (after
#                                                    # cam_r18_gen_erase.py's
#                                                    # first four commands)
#   python tools/train.py configs/cam/cam_r18_gen_erase_paste.py
#   python tools/test.py configs/cam/cam_r18_gen_erase_paste.py \
#       work_dirs/cam_r18_gen_erase_paste/epoch_5.pth
_base_ = ['./cam_r18_gen_erase.py']

# cam_r18_gen_paste.py's transform, unchanged (two bases that share the
# control cannot both be inherited: mmengine refuses their duplicate keys;
# tests/test_intervention_configs.py checks that the two stay equal)
paste = dict(
    type='PasteObjects',
    mask_dir='work_dirs/crf_gen_cam/masks',
    img_dir='data/gen_voc/VOC2012/JPEGImages',
    ann_file='data/gen_voc/VOC2012/ImageSets/Segmentation/trainaug.txt',
    prob=0.5,
    min_area=0.1,
    max_area=0.7,
    feather=2)

# Erase, then paste, each drawn independently (0.4 and 0.5): 20 % of the
# images are a context with its objects erased and a foreign object pasted
# (the object on a context it does not go with, its only label), 20 %
# context-only negatives, 30 % pasted, 30 % unchanged. This order, not the
# other: EraseObjects reads the image's own mask file, which does not know
# a pasted object; after a paste it would find the pasted class missing
# from the mask and keep the image unchanged (a labelled object its mask
# misses would stay visible under an empty label), so no image would get
# both. Both right after LoadImageFromFile, where the masks and the bank's
# objects align with the stored images.
train_pipeline = [
    _base_.train_pipeline[0], _base_.erase, paste,
    *_base_.train_pipeline[2:]
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
