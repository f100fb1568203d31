# cam_r18_gen.py with SGD momentum 0.9 (see cam_r50_voc_m09.py).
_base_ = ['./cam_r18_gen.py']

optim_wrapper = dict(optimizer=dict(momentum=0.9))
