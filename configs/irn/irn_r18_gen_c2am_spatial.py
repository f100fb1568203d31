# irn_r18_gen_c2am.py (C2AM's background score 0.20) for the spatial form:
# IRNet on crf_gen_c2am_spatial.py's masks, the random walk on
# c2am_r18_gen_spatial_trainaug.py's CAM files.
_base_ = ['./irn_r18_gen_c2am.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_gen_c2am_spatial/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r18_gen_spatial_trainaug/cams'))
