# IRN's CAM schedule: batch 16, 5 epochs, SGD lr 0.1 (x10 on the head),
# momentum 0.9, weight decay 1e-4, poly decay (power 0.9) per iteration.
# Note: IRN's PolyOptimizer calls `SGD(params, lr, weight_decay)`, which puts
# the weight decay (1e-4) into SGD's third positional slot, the *momentum*,
# and leaves weight decay at 0. The intended recipe is used here.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))

param_scheduler = dict(
    type='PolyLR',
    power=0.9,
    eta_min=0.0,
    by_epoch=True,
    begin=0,
    end=5,
    convert_to_iter_based=True)

train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
val_cfg = dict()
test_cfg = dict()
