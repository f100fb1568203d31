# C2AM as recorded at its commit 7cb39df ("So far C2AM hyper-parameters"),
# the first commit whose cfg/c2am.yml records the published 51.4 seed /
# 69.6 pseudo-mask mIoU (lines 46-56); HEAD (c2am_r50_voc.py, and the released
# network of c2am_r50_voc_os32.py) changed the network and the scales. Every
# setting below cites yiping-wang/c2am at 7cb39df; the rest is
# c2am_r50_voc.py's (4 epochs, lr 5e-4 / 5e-3, momentum 1e-4 and weight decay
# 1e-4 of the PolyOptimizer, batch 16, crop 512: cfg/c2am.yml:25-29,
# train_c2am.py:79-84).
#   python tools/train.py configs/cam/cam_r50_voc_l12.py        # the start
#   python tools/train.py configs/c2am/c2am_r50_voc_7cb39df.py
#   python tools/test.py configs/c2am/c2am_r50_voc_7cb39df.py \
#       work_dirs/c2am_r50_voc_7cb39df/epoch_4.pth            # seeds on train
#   python tools/test.py configs/c2am/c2am_r50_voc_7cb39df_trainaug.py \
#       work_dirs/c2am_r50_voc_7cb39df/epoch_4.pth            # CAM files
#   python tools/test.py configs/crf/crf_voc_c2am_7cb39df.py    # t 0.38 / 0.10
#   python tools/train.py configs/irn/irn_r50_voc_c2am_7cb39df.py
#   python tools/test.py configs/irn/irn_r50_voc_c2am_7cb39df.py \
#       work_dirs/irn_r50_voc_c2am_7cb39df/epoch_3.pth        # bg 0.21
_base_ = ['./c2am_r50_voc.py']

# The start: C2AM's own baseline. cfg/c2am.yml:20 start_weight_name
# resnet50_baseline_512.pth, copied to the fine-tuned weights' name and
# loaded strictly (train_c2am.py:144-154, :76); its train_baseline.py:49
# trains the same Net (no detach) with IRN's recipe (cfg/baseline/
# baseline_512.yml:20-25: 4 scales, crop 512, batch 16, 5 epochs, lr 0.1,
# multilabel soft-margin loss, train_baseline.py:122): cam_r50_voc_l12.py.
# Not recorded: baseline_512.yml writes resnet50_baseline_style_laste.pth
# with alpha 1 (a style-intervention KL term, train_baseline.py:104-120), not
# the file c2am.yml loads; which run made resnet50_baseline_512.pth is not
# in the repository. The plain baseline (alpha 0) is the start here.
load_from = 'work_dirs/cam_r50_voc_l12/epoch_5.pth'

# cfg/c2am.yml:23 cam_scales: IRN's four, for the global CAM
# (make_square_cam.py:61, 70-72) and for the CAMs (make_cam.py:68, 77-79);
# HEAD has six (1.0 ... 3.0).
scales = (1.0, 0.5, 1.5, 2.0)

model = dict(
    # IRN's stride-16 network (net/resnet50_cam.py:19-30, strides
    # (2, 2, 2, 1)) with FixedBatchNorm (net/resnet50.py:9-12: norm_eval),
    # layer1-2 trained: forward without detach (net/resnet50_cam.py:38-46),
    # train() freezes conv1 / bn1 only (:48-53)
    backbone=dict(frozen_stages=0),
    # the adjusted score doubled: cfg/c2am.yml:22 agg_smooth_r 2,
    # train_c2am.py:112 mean_agg(x, r=agg_smooth_r) = mean(x * r)
    # (misc/torchutils.py:69-70); HEAD: gamma 1
    head=dict(score_scale=2.0),
    test_cfg=dict(scales=scales))

custom_hooks = [
    dict(
        type='GlobalCAMHook',
        scales=scales,
        flip=True,
        # the by-class global CAM: train_c2am.py:97-98 loads
        # global_cam_by_class.npy (misc/pyutils.py:56-65 sum_cams_by_class,
        # commented out at :95); HEAD loads global_cam.npy
        reduce='by_class',
        # each scale resized straight to 128 x 128, summed, max-normalised
        # (make_square_cam.py:39-45; cfg/c2am.yml:24 cam_square_shape 128)
        cam_resolution='square',
        priority='ABOVE_NORMAL')
]
