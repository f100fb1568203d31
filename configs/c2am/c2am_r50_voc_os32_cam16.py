# CAMs (seeds, CAM files) of a c2am_r50_voc_os32.py checkpoint at output stride
# 16, as C2AM's reference infers them (same weights, layer4 stride 1).
#   python tools/test.py configs/c2am/c2am_r50_voc_os32_cam16.py \
#       work_dirs/c2am_r50_voc_os32/epoch_4.pth
_base_ = ['./c2am_r50_voc_os32.py']

model = dict(backbone=dict(strides=(1, 2, 2, 1)))
