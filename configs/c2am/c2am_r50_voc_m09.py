# c2am_r50_voc.py (C2AM) with SGD momentum 0.9 (the intended optimizer; the
# reference ran momentum 1e-4, see cam_r50_voc_m09.py), fine-tuning the
# momentum-0.9 plain-CAM classifier.
_base_ = ['./c2am_r50_voc.py']

load_from = 'work_dirs/cam_r50_voc_m09/epoch_5.pth'
optim_wrapper = dict(optimizer=dict(momentum=0.9))
