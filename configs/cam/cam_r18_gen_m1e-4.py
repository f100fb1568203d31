# cam_r18_gen.py with the reference optimizer (SGD momentum 1e-4, as IRN
# ran): from random init it undertrains (see cam_r18_gen.py).
_base_ = ['./cam_r18_gen.py']

optim_wrapper = dict(optimizer=dict(momentum=1e-4))
