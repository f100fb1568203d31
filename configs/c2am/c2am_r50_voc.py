# C2AM: fine-tune the plain-CAM classifier with the front-door adjustment
# (scores = mean_hw(logits * global CAM), BCE-with-logits). The global CAM is
# computed by GlobalCAMHook before the first iteration with the loaded
# plain-CAM weights (C2AM's reference: scales 1.0-3.0 + flips, each scale's
# map resized straight to 128 x 128, summed, max-normalised; by-class mean
# over train_aug) and saved with the checkpoints.
#   python tools/train.py configs/cam/cam_r50_voc.py   # first
#   python tools/train.py configs/c2am/c2am_r50_voc.py
#   python tools/test.py configs/c2am/c2am_r50_voc.py work_dirs/c2am_r50_voc/epoch_4.pth
_base_ = ['../cam/cam_r50_voc.py']

load_from = 'work_dirs/cam_r50_voc/epoch_5.pth'
# C2AM's reference config: these scales for the global CAM and for the CAMs
# (seeds, pseudo-masks); plain CAM keeps IRN's (1.0, 0.5, 1.5, 2.0).
scales = (1.0, 0.5, 1.5, 2.0, 2.5, 3.0)

model = dict(
    # fine-tuning starts from load_from, not from ImageNet
    backbone=dict(init_cfg=None),
    head=dict(adjustment='front_door'),
    test_cfg=dict(scales=scales))

custom_hooks = [
    dict(
        type='GlobalCAMHook',
        scales=scales,
        flip=True,
        reduce='by_class',
        cam_resolution='square',
        priority='ABOVE_NORMAL')
]

# 4 epochs, lr 5e-4 backbone / 5e-3 head (lr_mult 10), momentum 1e-4 and
# weight decay 1e-4 (the reference's PolyOptimizer, see the schedule), poly
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = dict(end=4)
train_cfg = dict(max_epochs=4)
