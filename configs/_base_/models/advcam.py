# AdvCAM's test mode (Lee et al., CVPR 2021, "Anti-Adversarially Manipulated
# Attributions for Weakly and Semi-Supervised Semantic Segmentation"), the
# published hyper-parameters of jbeomlee93/AdvCAM's obtain_CAM_masking.py:
# 27 adversarial-climbing steps per class and scale (13 at the 0.5 scale:
# adv_iter // 2), restricting-mask coefficient 7, step 0.08 on the
# max-normalised gradient, mask threshold 0.5; IRN's scales and flips
# (inherited from the classifier config). scale_weights=None: the reference
# meant to weigh the 0.5 scale x2 but multiplies every scale by 2 (see
# mmc2am/cam/advcam.py), which the max-normalisation cancels.
# A classifier config takes it with
#   _base_ = ['../../cam/cam_r50_voc.py', './advcam.py']
#   model = dict(test_cfg={{_base_.advcam_test_cfg}})
advcam_test_cfg = dict(
    mode='advcam',
    adv_iter=27,
    ad_coeff=7.0,
    ad_stepsize=0.08,
    score_th=0.5,
    scale_iters=(27, 13, 27, 27),  # for scales (1.0, 0.5, 1.5, 2.0)
    scale_weights=None,
    class_chunk=None)
