# CONTA + SEAM on the generated data, one round: seam_r18_gen.py fine-tuned
# with conta_seam_r50_voc.py's CONTA settings (CONTASEAMHead,
# ConfounderSetHook), from seam_r18_gen's last checkpoint, the confounder set
# built from SEAM's CRF pseudo-masks (crf_gen_seam.py), for 5 epochs like
# conta_r18_gen.py. Optimizer: SEAM's as it ran (lr 0.01, head x10, momentum
# 5e-4, seam_r50_voc.py): the round starts from trained weights, so the
# momentum 0.9 that seam_r18_gen.py needs from random init is not kept (the
# rule of conta_r18_gen.py). No public code combines CONTA and SEAM
# (conta_seam_r50_voc.py).
#   python tools/train.py configs/seam/seam_r18_gen.py       # round 0
#   python tools/test.py configs/seam/seam_r18_gen.py \
#       work_dirs/seam_r18_gen/epoch_15.pth                  # its seeds (t*)
#   python tools/test.py configs/seam/seam_r18_gen_trainaug.py \
#       work_dirs/seam_r18_gen/epoch_15.pth                  # its CAM files
#   python tools/test.py configs/crf/crf_gen_seam.py         # its masks
#   python tools/train.py configs/conta/conta_seam_r18_gen.py  # round 1
#   python tools/test.py configs/conta/conta_seam_r18_gen.py \
#       work_dirs/conta_seam_r18_gen/epoch_5.pth
_base_ = ['../seam/seam_r18_gen.py']

max_epochs = 5
load_from = 'work_dirs/seam_r18_gen/epoch_15.pth'

model = dict(
    head=dict(
        type='CONTASEAMHead',
        fusion='concat',
        embed_channels=21,
        prior='uniform'))

custom_hooks = [
    dict(
        type='ConfounderSetHook',
        mask_dir='work_dirs/crf_gen_seam/masks',
        reduce='image',
        num_workers=0,
        priority='ABOVE_NORMAL')
]

optim_wrapper = dict(optimizer=dict(lr=0.01, momentum=5e-4))
param_scheduler = dict(end=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
