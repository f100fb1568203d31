# AdvCAM seeds of the generated-data CAM classifier (cam_r18_gen.py) with
# the published AdvCAM settings (_base_/models/advcam.py): the CAM
# generator of the test mode is AdvCAM instead of plain multi-scale CAMs.
#   python tools/train.py configs/cam/cam_r18_gen.py    # first
#   python tools/test.py configs/advcam/advcam_r18_gen.py \
#       work_dirs/cam_r18_gen/epoch_15.pth
_base_ = ['../cam/cam_r18_gen.py', '../_base_/models/advcam.py']

model = dict(test_cfg=dict(cam_generator={{_base_.advcam_generator}}))
# 8 images a batch: their (image, class) rows climb together, 21 % less time
# than one image at a time on one thread (benchmarks/bench_advcam.py), the
# maps equal to ~3e-4 (float reordering in the batched convolutions).
test_dataloader = dict(batch_size=8)
