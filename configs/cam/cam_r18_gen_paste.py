# "paste" form for issue 26 (object-context recombination, CDA: Su et al.,
# ICCV 2021): cam_r18_gen_ft.py (the control: plain fine-tuning of
# cam_r18_gen's last checkpoint, same lr, epochs, load_from and test scales)
# with one change, PasteObjects in the training pipeline. With probability
# `prob` a training image gets an object of a class it lacks, cut out of a
# single-class image by the start point's CRF pseudo-masks, pasted with a
# feathered edge, and the union label, so each class's object is also seen
# on the other classes' contexts and the object, not its context, has to
# carry the class.
#   python tools/train.py configs/cam/cam_r18_gen.py        # start point
#   python tools/test.py configs/cam/cam_r18_gen.py \
#       work_dirs/cam_r18_gen/epoch_15.pth                   # its seeds (t*)
#   python tools/test.py configs/cam/cam_r18_gen_trainaug.py \
#       work_dirs/cam_r18_gen/epoch_15.pth                   # its CAM files
#   python tools/test.py configs/crf/crf_gen_cam.py # its masks
#   python tools/train.py configs/cam/cam_r18_gen_paste.py
#   python tools/test.py configs/cam/cam_r18_gen_paste.py \
#       work_dirs/cam_r18_gen_paste/epoch_5.pth
_base_ = ['./cam_r18_gen_ft.py']

# prob 0.5: CDA pastes into half of each batch. The object bank: the
# single-class CRF masks of train_aug (ann_file: the images the classifier
# trains on, so a bank from the ground truth of SegmentationClassAug, the
# benchmark's oracle, holds no val image) whose object covers 10-70 % of
# the image (PasteObjects' defaults: smaller CRF objects are mostly
# fragments, larger ones carry little context to leave behind); pasted at
# 10-70 % of the target image. feather 2 px: the alpha ramps up over the
# object's outer 2 px, where the pseudo-masks are least sure, and takes no
# pixel from outside the mask (no halo of the source's context; CDA's
# Gaussian blur of the mask would paste one).
paste = dict(
    type='PasteObjects',
    mask_dir='work_dirs/crf_gen_cam/masks',
    img_dir='data/gen_voc/VOC2012/JPEGImages',
    ann_file='data/gen_voc/VOC2012/ImageSets/Segmentation/trainaug.txt',
    prob=0.5,
    min_area=0.1,
    max_area=0.7,
    feather=2)

# right after LoadImageFromFile (objects are cut and pasted at the stored
# images' size, before the resize, flip and crop); the rest of the pipeline
# is the control's
train_pipeline = [
    _base_.train_pipeline[0], paste, *_base_.train_pipeline[1:]
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
