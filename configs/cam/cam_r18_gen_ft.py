# CONTROL for the front-door variants on the generated data: c2am_r18_gen.py
# with the plain CAM loss (adjustment=None) and no GlobalCAMHook, i.e. plain
# fine-tuning of cam_r18_gen's last checkpoint at the same lr / momentum,
# epochs, load_from and C2AM's test scales. A gain of c2am_r18_gen.py,
# c2am_r18_gen_spatial.py or c2am_r18_gen_context.py over cam_r18_gen.py
# counts for the adjustment only where it also beats this config (the extra
# epochs at a low lr alone can move the seeds).
#   python tools/train.py configs/cam/cam_r18_gen.py    # first
#   python tools/train.py configs/cam/cam_r18_gen_ft.py
_base_ = ['../c2am/c2am_r18_gen.py']

model = dict(head=dict(adjustment=None))

# a list replaces the base's: no GlobalCAMHook
custom_hooks = []
