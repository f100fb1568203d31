# c2am_r18_gen.py with SGD momentum 0.9 (the optimizer IRN meant; see
# cam_r50_voc_m09.py), from the same cam_r18_gen.py checkpoint.
_base_ = ['./c2am_r18_gen.py']

optim_wrapper = dict(optimizer=dict(momentum=0.9))
