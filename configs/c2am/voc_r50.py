# C2AM on PASCAL VOC with ResNet-50: the README's command, kept under its
# first name. It is c2am_r50_voc.py (the family's name), unchanged; the
# pipeline (tools/run_pipeline.py --preset voc) runs c2am_r50_voc.py.
#   python tools/train.py configs/cam/cam_r50_voc.py    # first
#   python tools/train.py configs/c2am/voc_r50.py
#   python tools/test.py configs/c2am/voc_r50.py work_dirs/voc_r50/epoch_4.pth
_base_ = ['./c2am_r50_voc.py']
