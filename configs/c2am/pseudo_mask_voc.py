# Pseudo-masks from CAM files (IRN's confident labels), for
#   python tools/make_pseudo_masks.py configs/c2am/pseudo_mask_voc.py \
#       --cfg-options cam_dir=work_dirs/<classifier>/cams
# Writes <work_dir>/pseudo_masks/<img_id>.png (VOC palette, 255 = ignore) and
# <work_dir>/pseudo_mask_results.json. Top-level keys are all plain values, so
# any of them can be changed with --cfg-options.

# Images: <data_root>/<img_dir>/<id><img_suffix> for the ids in ann_file.
# train_aug (10,582 images), the set the segmenter is trained on.
data_root = 'data/VOCdevkit/VOC2012'
img_dir = 'JPEGImages'
img_suffix = '.jpg'
ann_file = 'ImageSets/Segmentation/trainaug.txt'

# CAM files (<cam_dir>/<id>.npz, mmc2am.cam.cam_file) from the classifier's
# test run with model.test_cfg.cam_dir set. 'high_res' (full resolution) as
# IRN; 'cam' (stride 4) is upsampled bilinearly.
cam_dir = None  # required
cam_key = 'high_res'

# None: <work_dir>/pseudo_masks, which is where the pseudo-mask segmenter
# configs look by default. Masks made with other settings in the same folder
# are refused (they would be skipped otherwise).
out_dir = None

# 'crf': each confident label map refined by a dense CRF on the image (IRN);
# 'threshold': the plain bands max cam >= t_fg / < t_bg / between (= 255).
mode = 'crf'
# Background scores of the confident foreground / background label maps.
# C2AM's values; IRN (plain CAM) uses t_fg=0.30, t_bg=0.05.
t_fg = 0.375
t_bg = 0.10
# IRN's crf_inference_label: unaries from labels trusted with gt_prob,
# pydensecrf's addPairwiseGaussian / addPairwiseBilateral arguments.
crf = dict(
    iters=10,
    gt_prob=0.7,
    gaussian=dict(sxy=3, compat=3),
    bilateral=dict(sxy=50, srgb=5, compat=10))

# CPU processes for the CRF (1: in the main process).
num_workers = 8

# Scored against the ground truth of these images (those also in ann_file):
# VOC train (1,464 images), where the papers report pseudo-mask mIoU.
# None skips the evaluation.
evaluation = dict(
    ann_file='ImageSets/Segmentation/train.txt',
    gt_dir='SegmentationClass',
    num_classes=21)
