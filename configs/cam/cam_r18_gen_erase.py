# "erase" form for issue 17 (context-only negatives): cam_r18_gen_ft.py (the
# control: plain fine-tuning of cam_r18_gen's last checkpoint, same lr,
# epochs, load_from and test scales) with one change, EraseObjects in the
# training pipeline. With probability `prob` a training image loses its
# objects (its start-point CRF pseudo-mask's object and ignore pixels, grown
# by `dilate` px, refilled with shifted copies of its own background) and
# gets an empty label, so the classifier sees each class's context without
# the class and must stop firing on it.
#   python tools/train.py configs/cam/cam_r18_gen.py        # start point
#   python tools/test.py configs/cam/cam_r18_gen.py \
#       work_dirs/cam_r18_gen/epoch_15.pth                   # its seeds (t*)
#   python tools/test.py configs/cam/cam_r18_gen_trainaug.py \
#       work_dirs/cam_r18_gen/epoch_15.pth                   # its CAM files
#   python tools/test.py configs/crf/crf_gen_cam.py # its masks
#   python tools/train.py configs/cam/cam_r18_gen_erase.py
#   python tools/test.py configs/cam/cam_r18_gen_erase.py \
#       work_dirs/cam_r18_gen_erase/epoch_5.pth
_base_ = ['./cam_r18_gen_ft.py']

# prob 0.4: after erasing, a class's context predicts the class in about
# 60 % of the images that show it (the erased 40 % have it with no class),
# while the object still predicts it always, so the loss pays for moving the
# evidence onto the object; 60 % of the images still carry positives (at
# 0.5 and above, half the fine-tuning steps would teach only negatives).
# dilate 3 px: the CRF pseudo-masks of a 64 px image miss 1-2 px of an
# object's edge (CRF and the t* threshold shrink objects), and an object
# fragment left under an empty label would teach the classifier to ignore
# the object; erasing 3 px of context more costs nothing (it is refilled
# with context). fill 'copy' (EraseObjects' comment): the contexts are
# textures, an inpainted smooth blob would be a shortcut cue.
erase = dict(
    type='EraseObjects',
    mask_dir='work_dirs/crf_gen_cam/masks',
    prob=0.4,
    dilate=3,
    fill='copy')

# right after LoadImageFromFile (the masks align with the stored image); the
# rest of the pipeline is the control's
train_pipeline = [
    _base_.train_pipeline[0], erase, *_base_.train_pipeline[1:]
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
