# CONTA on the generated data, one round: cam_r18_gen.py fine-tuned with
# conta_r50_voc.py's CONTA settings (CONTAHead: m_t.py's attention over the
# confounder set, concatenation, uniform prior; ConfounderSetHook: per-image
# class-wise masked means), from cam_r18_gen's last checkpoint, the confounder
# set built from plain CAM's CRF pseudo-masks (crf_gen_cam.py), for 5
# epochs like c2am_r18_gen.py / recam_r18_gen.py (the same fine-tuning length
# for the comparison). Optimizer: IRN's as it ran (lr 0.1, head x10, momentum
# 1e-4, as conta_r50_voc.py): the run starts from trained weights, so the
# momentum 0.9 that cam_r18_gen.py needs from random init is not kept (as in
# c2am_r18_gen.py). Every stage and BatchNorm trains, as in cam_r18_gen.py.
# The embedding width is m_t.py's rule, classes + 1 (21 for VOC's 20).
# tests/test_conta.py checks that these settings stay equal to
# conta_r50_voc.py's.
#   python tools/train.py configs/cam/cam_r18_gen.py       # round 0
#   python tools/test.py configs/cam/cam_r18_gen.py \
#       work_dirs/cam_r18_gen/epoch_15.pth                  # its seeds (t*)
#   python tools/test.py configs/cam/cam_r18_gen_trainaug.py \
#       work_dirs/cam_r18_gen/epoch_15.pth                  # its CAM files
#   python tools/test.py configs/crf/crf_gen_cam.py  # its masks
#   python tools/train.py configs/conta/conta_r18_gen.py     # round 1
#   python tools/test.py configs/conta/conta_r18_gen.py \
#       work_dirs/conta_r18_gen/epoch_5.pth
_base_ = ['../cam/cam_r18_gen.py']

max_epochs = 5
load_from = 'work_dirs/cam_r18_gen/epoch_15.pth'

model = dict(
    head=dict(
        _delete_=True,
        type='CONTAHead',
        num_classes=20,
        in_channels=512,
        fusion='concat',
        embed_channels=21,
        prior='uniform',
        cam_adjusted=False))

custom_hooks = [
    dict(
        type='ConfounderSetHook',
        mask_dir='work_dirs/crf_gen_cam/masks',
        reduce='image',
        num_workers=0,
        priority='ABOVE_NORMAL')
]

optim_wrapper = dict(optimizer=dict(lr=0.1, momentum=1e-4))
param_scheduler = dict(end=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
