# c2am_r18_gen.py with SGD momentum 0.9, fine-tuning cam_r18_gen_m09.py.
_base_ = ['./c2am_r18_gen.py']

load_from = 'work_dirs/cam_r18_gen_m09/epoch_20.pth'
optim_wrapper = dict(optimizer=dict(momentum=0.9))
