# The demo's segmenter with an exponential moving average of its weights
# and BN statistics (mmengine's EMAHook; the checkpoint's state_dict holds
# the averaged weights), over about the last 500 of its 1800 iterations.
_base_ = './deeplabv3plus_r18w32-d16_gen_pseudo.py'

custom_hooks = [
    dict(
        type='EMAHook',
        momentum=0.002,
        update_buffers=True,
        begin_iter=600,
        priority=49)
]
