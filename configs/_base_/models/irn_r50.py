# IRNet's class-boundary branch on a frozen ResNet-50 (IRN's
# resnet50_irn.py), and IRN's random walk at test time.
model = dict(
    type='IRNet',
    data_preprocessor=dict(
        type='mmseg.SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(512, 512)),
    # IRN: torchvision's ImageNet ResNet-50, strides (2, 2, 2, 1) counting
    # the stem, i.e. output stride 16; frozen by the model.
    backbone=dict(
        type='mmseg.ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        out_indices=(0, 1, 2, 3),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    in_channels=(64, 256, 512, 1024, 2048),
    in_strides=(4, 4, 8, 16, 16),
    channels=32,
    num_groups=4,
    # path radius of the training pairs
    radius=10,
    num_classes=21,
    ignore_index=255,
    # IRN's EdgeDisplacement pads every test image to its crop size
    test_pad_size=512,
    test_flip=True,
    # the random walk (run_sample.py): radius 5, beta 10, 2^8 steps; the
    # background score is the method's (irn/irn_*_{cam,c2am}.py)
    test_cfg=dict(radius=5, beta=10, exp_times=8, bg_thr=None))
