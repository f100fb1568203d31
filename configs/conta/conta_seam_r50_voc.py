# CONTA + SEAM: one CONTA round (Zhang et al., NeurIPS 2020) on SEAM's
# classifier (Wang et al., CVPR 2020). No public code combines them (CONTA's
# repository, dongzhang89/CONTA, publishes its IRN variant only; the paper's
# CONTA+SEAM row, ResNet-38: 56.2 seed mIoU, has no code): this config is
# built from the two components of this project, SEAM's seam_r50_voc.py
# (two views, PCM, its four losses, its optimizer and augmentation, PCM CAMs
# at inference) with CONTA's adjusted scores in the classification term
# (CONTASEAMHead: CONTAHead's attention over the confounder set,
# concatenation, uniform prior, embedding width 21 as conta_r50_voc.py) and
# ConfounderSetHook building the set from SEAM's pseudo-masks (IRN's random
# walk on SEAM's CAMs, as CONTA feeds IRN's masks to its next round).
# The round fine-tunes SEAM's checkpoint (load_from) for SEAM's schedule (8
# epochs), as conta_r50_voc.py fine-tunes plain CAM's with IRN's.
#   python tools/train.py configs/seam/seam_r50_voc.py        # round 0
#   python tools/test.py configs/irn/irn_r50_voc_seam.py ...  # its IRN masks
#   python tools/train.py configs/conta/conta_seam_r50_voc.py   # round 1
#   python tools/test.py configs/conta/conta_seam_r50_voc.py \
#       work_dirs/conta_seam_r50_voc/epoch_8.pth  # seeds on VOC train
_base_ = ['../seam/seam_r50_voc.py']

load_from = 'work_dirs/seam_r50_voc/epoch_8.pth'

model = dict(
    backbone=dict(init_cfg=None),  # from load_from
    head=dict(
        type='CONTASEAMHead',
        fusion='concat',
        embed_channels=21,
        prior='uniform'))

custom_hooks = [
    dict(
        type='ConfounderSetHook',
        mask_dir='work_dirs/irn_r50_voc_seam/masks',
        reduce='image',
        num_workers=2,
        priority='ABOVE_NORMAL')
]
