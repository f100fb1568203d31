# CAMs of train_aug for the pseudo-mask stages, C2AM spatial form:
# c2am_r50_voc_trainaug.py with c2am_r50_voc_spatial.py's head
# (tests/test_run_pipeline.py checks that the models are equal).
#   python tools/test.py configs/c2am/c2am_r50_voc_spatial_trainaug.py \
#       work_dirs/c2am_r50_voc_spatial/epoch_4.pth
_base_ = ['./c2am_r50_voc_trainaug.py']

model = dict(head=dict(adjustment='front_door_spatial'))
