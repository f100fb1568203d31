# The spatial front-door variant (voc_r50_spatial.py) on the generated data.
_base_ = ['./c2am_r18_gen.py']

model = dict(head=dict(adjustment='front_door_spatial'))
