# IRNet and the random walk on the generated VOC-layout data
# (tools/generate_voc.py, 64x64 images): irn_r50_voc.py with a ResNet-18 from
# random init (no downloads), sizes for 64 px images and a schedule of a
# minute on 2 CPU cores. Method configs: irn_r18_gen_{cam,c2am,...}.py.
_base_ = ['./irn_r50_voc.py']

data_root = 'data/gen_voc/VOC2012'
# a 64 px crop is a 16 x 16 boundary map: radius 10 (margin 9) leaves no
# source pixel, so the training pairs use the random walk's radius
crop_size = 64
max_epochs = 10

model = dict(
    data_preprocessor=dict(size=(crop_size, crop_size)),
    backbone=dict(depth=18, init_cfg=None),
    in_channels=(64, 64, 128, 256, 512),
    radius=5,
    test_pad_size=None)

# irn_r50_voc.py's pipeline and schedule, with this crop and these epochs
train_pipeline = [
    dict(t, crop_size=crop_size) if t.type == 'IRNRandomCrop' else t
    for t in _base_.train_pipeline
]
# Small images: worker processes would only compete for the CPU cores.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root))

param_scheduler = [dict(_base_.param_scheduler[0], end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5))
