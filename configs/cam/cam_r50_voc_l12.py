# Plain CAM classifier with layer1-2 trained: cam_r50_voc.py (IRN's recipe)
# without IRN's `stage2(x).detach()`, only the stem (conv1 / bn1) frozen.
# It is the CAM network that ReCAM, AdvCAM and C2AM's commit 7cb39df train
# (their Net has no detach), and the start point of recam_r50_voc.py and
# c2am_r50_voc_7cb39df.py.
#   python tools/train.py configs/cam/cam_r50_voc_l12.py
#   python tools/test.py configs/cam/cam_r50_voc_l12.py \
#       work_dirs/cam_r50_voc_l12/epoch_5.pth  # seeds on VOC train
# Where the setting comes from:
# - IRN (jiwoon-ahn/irn) net/resnet50_cam.py:28 `x = self.stage2(x).detach()`
#   (stem + layer1 + layer2 get no gradient; cam_r50_voc.py: frozen_stages=2);
# - ReCAM (zhaozhengChen/ReCAM) net/resnet50_cam.py:29-48: forward without
#   detach, train() freezes conv1 / bn1 only; its step/train_cam.py:44 trains
#   that Net with run_sample.py:38-44's recipe (batch 16, 5 epochs, lr 0.1,
#   x10 on the classifier, weight decay 1e-4, scales 1.0 / 0.5 / 1.5 / 2.0):
#   IRN's, as in cam_r50_voc.py;
# - AdvCAM (jbeomlee93/AdvCAM) net/resnet50_cam.py:28-47 and C2AM at 7cb39df
#   (yiping-wang/c2am) net/resnet50_cam.py:38-53: the same, no detach.
# BatchNorm stays frozen everywhere (norm_eval, as their FixedBatchNorm in
# net/resnet50.py); the BN affine weights of layer1-2 train, as theirs do.
_base_ = ['./cam_r50_voc.py']

model = dict(backbone=dict(frozen_stages=0))
