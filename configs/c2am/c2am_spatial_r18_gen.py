# The spatial front-door variant (voc_r50_spatial.py) on the generated data.
# Its later stages: c2am_spatial_r18_gen_trainaug.py (CAM files),
# pseudo_mask_c2am_spatial_gen.py (CRF masks), irn_c2am_spatial_r18_gen.py.
_base_ = ['./c2am_r18_gen.py']

model = dict(head=dict(adjustment='front_door_spatial'))
