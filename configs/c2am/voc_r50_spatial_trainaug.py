# CAMs of train_aug for the pseudo-mask stages, C2AM spatial form:
# voc_r50_trainaug.py with voc_r50_spatial.py's head
# (tests/test_run_pipeline.py checks that the models are equal).
#   python tools/test.py configs/c2am/voc_r50_spatial_trainaug.py \
#       work_dirs/voc_r50_spatial/epoch_4.pth
_base_ = ['./voc_r50_trainaug.py']

model = dict(head=dict(adjustment='front_door_spatial'))
