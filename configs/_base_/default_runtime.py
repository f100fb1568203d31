# Runtime shared by the classifier-stage configs (mmpretrain's, plus the
# mmc2am plugin import). Scope mmc2am: mmc2am's components by their names,
# mmengine's through the root registries, mmpretrain's and mmseg's with their
# scope prefix ('mmpretrain.ResNet').
default_scope = 'mmc2am'
custom_imports = dict(imports=['mmc2am'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # the augmentation RNGs from (seed, epoch): a resumed run draws what an
    # uninterrupted one would (mmengine restores the sampler order only)
    epoch_seed=dict(type='EpochSeedHook'),
    visualization=dict(type='mmpretrain.VisualizationHook', enable=False),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='mmpretrain.UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
