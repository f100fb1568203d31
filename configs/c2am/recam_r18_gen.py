# ReCAM on the generated data: cam_r18_gen.py fine-tuned with
# recam_r50_voc.py's ReCAM settings (ReCAMHead, loss weight 1, lr 5e-5 on the
# backbone and the CAM classifier and 5e-4 on W_s, the reference's momentum
# 1e-4), from cam_r18_gen's last checkpoint, for 5 epochs like
# c2am_r18_gen.py (the same fine-tuning length for the comparison; the
# reference runs 4). Every stage and BatchNorm trains, as in cam_r18_gen.py.
# tests/test_recam_head.py checks that these settings stay equal to
# recam_r50_voc.py's.
#   python tools/train.py configs/c2am/cam_r18_gen.py    # first
#   python tools/train.py configs/c2am/recam_r18_gen.py
#   python tools/test.py configs/c2am/recam_r18_gen.py \
#       work_dirs/recam_r18_gen/epoch_5.pth
_base_ = ['./cam_r18_gen.py']

max_epochs = 5
load_from = 'work_dirs/cam_r18_gen/epoch_15.pth'

model = dict(
    head=dict(
        type='ReCAMHead',
        recam_loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        cam_weight='product'))

optim_wrapper = dict(
    optimizer=dict(lr=5e-5, momentum=1e-4),
    paramwise_cfg=dict(custom_keys={
        'head': dict(lr_mult=1.0),
        'head.recam_conv': dict(lr_mult=10.0)
    }))
param_scheduler = dict(end=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
