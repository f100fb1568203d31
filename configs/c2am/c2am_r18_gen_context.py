# Front-door adjustment at feature level (CausalCAMHead
# adjustment='front_door_context', issue 17) on the generated data: each
# image's CAM region (the mediator) is scored with the mean context of the
# batch's images in place of its own, s_ic = W_c . (g_ic + (1 - alpha_ic) *
# xbar). Everything else is c2am_r18_gen.py's (lr, momentum, epochs,
# load_from, C2AM's test scales), minus GlobalCAMHook: this form does not use
# the global CAM.
# Compared with: cam_r18_gen_ft.py (the control: the same fine-tuning with
# the plain loss), c2am_r18_gen.py ('front_door', the reference's per-class
# scale) and c2am_r18_gen_spatial.py ('front_door_spatial').
#   python tools/train.py configs/cam/cam_r18_gen.py    # first
#   python tools/train.py configs/c2am/c2am_r18_gen_context.py
_base_ = ['./c2am_r18_gen.py']

model = dict(head=dict(adjustment='front_door_context'))

# a list replaces the base's: no GlobalCAMHook
custom_hooks = []
