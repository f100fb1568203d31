# The spatial front-door variant (c2am_r50_voc_spatial.py) on the generated data.
# Its later stages: c2am_r18_gen_spatial_trainaug.py (CAM files),
# crf_gen_c2am_spatial.py (CRF masks), irn_r18_gen_c2am_spatial.py.
_base_ = ['./c2am_r18_gen.py']

model = dict(head=dict(adjustment='front_door_spatial'))
