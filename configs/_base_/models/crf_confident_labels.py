# IRN's confident labels (cam_to_ir_label): background planes t_fg / t_bg,
# each label map refined by a dense CRF on the image (IRN's
# crf_inference_label), pixels between the two 255. The thresholds are the
# method's (crf/crf_{voc,gen}_*.py).
model = dict(
    type='CRFConfidentLabels',
    t_fg=None,
    t_bg=None,
    mode='crf',
    crf=dict(
        iters=10,
        gt_prob=0.7,
        gaussian=dict(sxy=3, compat=3),
        bilateral=dict(sxy=50, srgb=5, compat=10)),
    # full-resolution CAMs, as IRN
    cam_key='high_res_cam')
# no weights: under torchrun each process runs its images, nothing to sync
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel')
