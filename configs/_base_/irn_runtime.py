# Runtime of IRN's stages (IRNet training, the CRF and random-walk
# pseudo-mask stages run by tools/test.py). Scope mmc2am, as the classifier
# stages: mmseg's components with their scope prefix ('mmseg.ResNet').
default_scope = 'mmc2am'
custom_imports = dict(imports=['mmc2am'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1,
                    max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # augmentation RNGs from (seed, epoch): a resumed run draws what an
    # uninterrupted one would (tests/test_fault_resume.py)
    epoch_seed=dict(type='EpochSeedHook'))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
