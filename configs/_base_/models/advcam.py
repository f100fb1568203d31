# AdvCAM (Lee et al., CVPR 2021, "Anti-Adversarially Manipulated
# Attributions for Weakly and Semi-Supervised Semantic Segmentation") as the
# CAM generator of a CAM classifier's test mode, with the published
# hyper-parameters of jbeomlee93/AdvCAM's obtain_CAM_masking.py: 27
# adversarial-climbing steps per class and scale (13 at the 0.5 scale:
# adv_iter // 2), restricting-mask coefficient 7, step 0.08 on the
# max-normalised gradient, mask threshold 0.5; IRN's scales and flips come
# from the classifier config (model.test_cfg.scales / flip).
# scale_weights=None: the reference meant to weigh the 0.5 scale x2 but
# multiplies every scale by 2 (see mmc2am/models/cam_generators/adv_cam.py),
# which the max-normalisation cancels.
# A classifier config takes it with
#   _base_ = ['../cam/cam_r50_voc.py', '../_base_/models/advcam.py']
#   model = dict(test_cfg=dict(cam_generator={{_base_.advcam_generator}}))
advcam_generator = dict(
    type='AdvCAM',
    adv_iter=27,
    ad_coeff=7.0,
    ad_stepsize=0.08,
    score_th=0.5,
    scale_iters=(27, 13, 27, 27),  # for scales (1.0, 0.5, 1.5, 2.0)
    scale_weights=None,
    class_chunk=None)
