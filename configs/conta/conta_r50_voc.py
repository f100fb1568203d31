# CONTA (Zhang et al., NeurIPS 2020, "Causal Intervention for Weakly-
# Supervised Semantic Segmentation") on IRN, one round: the CAM classifier is
# trained again with the backdoor adjustment (CONTAHead) by a confounder set
# built from the previous round's pseudo-masks (ConfounderSetHook, before the
# first iteration), then the usual CAM -> CRF / IRN -> masks stages follow;
# the next round points mask_dir at those masks.
#   python tools/train.py configs/cam/cam_r50_voc.py         # round 0
#   python tools/test.py configs/irn/irn_r50_voc_cam.py ...  # its IRN masks
#   python tools/train.py configs/conta/conta_r50_voc.py       # round 1
#   python tools/test.py configs/conta/conta_r50_voc.py \
#       work_dirs/conta_r50_voc/epoch_5.pth  # seeds on VOC train
# Where the values come from (dongzhang89/CONTA):
# - classifier step: IRN's train_cam as CONTA's pseudo_mask/run_sample.py
#   (lines 25-30) and step/train_cam.py (lines 43-59) run it: batch 16, 5
#   epochs, lr 0.1 (x10 on the newly added layers: here the whole head),
#   weight decay 1e-4, poly 0.9, IRN's augmentation, stem-layer2 and BN
#   frozen; momentum 1e-4 (IRN's PolyOptimizer bug, see the schedule) - all
#   from cam_r50_voc.py;
# - adjustment: segmentation/tools/m_t.py (CausalPredictor, lines 11-59):
#   dictionary of per-class features without background (`[1:]`), attention
#   softmax(Wy(x) Wz(d)^T / sqrt(21)) with Wy, Wz linear layers to 21
#   channels (N(0, 0.02) init), z = prior @ (attention * d), class scores by
#   a linear layer on cat(x, z) (N(0, 0.01) init); prior 1/n as the paper's
#   P(c_i) = 1/n (m_t.py loads a prior file that is not published);
# - the masks: CONTA's IRN pipeline feeds IRN's random-walk masks
#   (step/make_sem_seg_labels.py, sem_seg_bg_thres 0.25) to the next round:
#   here irn_r50_voc_cam.py's.
# Not from CONTA's code: the start. CONTA's train_cam starts each round from
# ImageNet; here the round starts from round 0's classifier (load_from), so
# the confounder set is computed in a trained feature space and W_x starts
# as round 0's CAM classifier. From ImageNet instead: load_from=None and
# model.backbone.init_cfg=dict(type='Pretrained',
# checkpoint='torchvision://resnet50') (the set then uses ImageNet features).
_base_ = ['../cam/cam_r50_voc.py']

load_from = 'work_dirs/cam_r50_voc/epoch_5.pth'

model = dict(
    backbone=dict(init_cfg=None),  # from load_from
    head=dict(
        _delete_=True,
        type='CONTAHead',
        num_classes=20,
        in_channels=2048,
        fusion='concat',
        embed_channels=21,
        prior='uniform',
        cam_adjusted=False))

custom_hooks = [
    dict(
        type='ConfounderSetHook',
        mask_dir='work_dirs/irn_r50_voc_cam/masks',
        reduce='image',
        num_workers=2,
        priority='ABOVE_NORMAL')
]
