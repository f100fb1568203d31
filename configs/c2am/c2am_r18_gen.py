# C2AM on the generated data: cam_r18_gen.py fine-tuned with c2am_r50_voc.py's
# C2AM settings (front-door head, GlobalCAMHook with the reference's scales
# and square maps, SGD lr 5e-4 / 5e-3 with the reference's momentum 1e-4:
# the fine-tuning starts from trained weights, so the reference optimizer is
# kept here), from cam_r18_gen's last checkpoint.
# tests/test_classifier_configs.py checks that these settings stay equal to
# c2am_r50_voc.py's.
#   python tools/train.py configs/cam/cam_r18_gen.py    # first
#   python tools/train.py configs/c2am/c2am_r18_gen.py
_base_ = ['../cam/cam_r18_gen.py']

max_epochs = 5
load_from = 'work_dirs/cam_r18_gen/epoch_15.pth'
# C2AM's reference scales, for the global CAM and the seeds
scales = (1.0, 0.5, 1.5, 2.0, 2.5, 3.0)

model = dict(
    head=dict(adjustment='front_door'),
    test_cfg=dict(scales=scales))

custom_hooks = [
    dict(
        type='GlobalCAMHook',
        scales=scales,
        flip=True,
        reduce='by_class',
        cam_resolution='square',
        num_workers=0,
        priority='ABOVE_NORMAL')
]

optim_wrapper = dict(optimizer=dict(lr=5e-4, momentum=1e-4))
param_scheduler = dict(end=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
