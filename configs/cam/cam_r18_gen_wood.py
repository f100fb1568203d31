# W-OoD form for issue 26 (build item 3, "erase negatives"; Lee et al., CVPR
# 2022, naver-ai/w-ood): cam_r18_gen_erase.py (the control, plain
# fine-tuning of cam_r18_gen's last checkpoint, plus EraseObjects'
# context-only negatives with an empty label) with W-OoD's two additions,
# WOoDClassifier: each batch's erase negatives (its OoD images) are hardened
# by one anti-adversarial step of size xi before the loss (their all-zero
# target then trains on their most class-like version), and a distance loss
# pulls the labelled images' GAP features towards their classes' centres
# and pushes them from the nearest OoD cluster centres. WOoDCentresHook sets
# the centres before training, with the start model, from one pass over the
# train dataloader (the first epoch's batches).
#   python tools/train.py configs/cam/cam_r18_gen.py        # start point
#   python tools/test.py configs/cam/cam_r18_gen.py \
#       work_dirs/cam_r18_gen/epoch_15.pth                   # its seeds (t*)
#   python tools/test.py configs/cam/cam_r18_gen_trainaug.py \
#       work_dirs/cam_r18_gen/epoch_15.pth                   # its CAM files
#   python tools/test.py configs/crf/crf_gen_cam.py # its masks
#   python tools/train.py configs/cam/cam_r18_gen_wood.py
#   python tools/test.py configs/cam/cam_r18_gen_wood.py \
#       work_dirs/cam_r18_gen_wood/epoch_5.pth
# Differs from the reference (step/train_cam_clustering.py): the OoD images
# are the erase negatives inside the same batch (their loss is the batch's
# CAM loss, no separate OoD loader, no ood_coeff), not a separate OoD set;
# K = 10 OoD clusters (the reference: 50 of some 10k OoD images; one pass of
# the generated data has about 70 negatives); the centres come from the
# first epoch's augmented batches, not an augmentation-free pass; no
# checkpoint choice by seed mIoU on ground-truth masks (lines 376-385,
# 457-460) and no exclusion of class index 4 from the OoD loss (line 426).
_base_ = ['./cam_r18_gen_erase.py']

# the reference's distance_lambda 0.007 and ood_dist_topk 0.2, its step 0.07
model = dict(
    type='WOoDClassifier',
    distance_loss=dict(
        type='WOoDDistanceLoss', loss_weight=0.007, ood_dist_topk=0.2),
    harden=True,
    xi=0.07)

# the control's list is empty (cam_r18_gen_ft.py): this one hook
custom_hooks = [dict(type='WOoDCentresHook', num_clusters=10)]
