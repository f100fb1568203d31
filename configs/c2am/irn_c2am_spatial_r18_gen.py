# irn_c2am_r18_gen.py (C2AM's background score 0.20) for the spatial form:
# IRNet on pseudo_mask_c2am_spatial_gen.py's masks, the random walk on
# c2am_spatial_r18_gen_trainaug.py's CAM files.
_base_ = ['./irn_c2am_r18_gen.py']

train_dataloader = dict(
    dataset=dict(label_dir='work_dirs/pseudo_mask_c2am_spatial_gen/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_spatial_r18_gen_trainaug/cams',
    out_dir='work_dirs/irn_c2am_spatial_r18_gen/masks'))
