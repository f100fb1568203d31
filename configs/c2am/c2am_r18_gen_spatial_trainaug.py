# CAMs of train_aug for the pseudo-mask stages, C2AM spatial form:
# c2am_r18_gen_trainaug.py with c2am_r18_gen_spatial.py's head
# (tests/test_run_pipeline.py checks that the models are equal).
#   python tools/test.py configs/c2am/c2am_r18_gen_spatial_trainaug.py \
#       work_dirs/c2am_r18_gen_spatial/epoch_5.pth
_base_ = ['./c2am_r18_gen_trainaug.py']

model = dict(head=dict(adjustment='front_door_spatial'))
