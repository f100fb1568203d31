# IRN's CAM classifier: ResNet-50, output stride 16 (strides (1, 2, 2, 1)
# after the stride-4 stem), BatchNorm statistics frozen (norm_eval), stem +
# layer1 + layer2 without gradient (frozen_stages=2, IRN's
# `stage2(x).detach()`), GAP + 1x1 conv without bias to the 20 classes.
model = dict(
    type='CAMClassifier',
    # mmpretrain's ClsDataPreprocessor with the multi-hot targets made on the
    # host and copied once, non-blocking (benchmarks/README.md, issue 15)
    data_preprocessor=dict(
        type='CAMDataPreprocessor',
        non_blocking=True,
        num_classes=20,
        # ImageNet RGB statistics, as torchvision / IRN
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        to_onehot=True),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        num_stages=4,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        frozen_stages=2,
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    head=dict(
        type='CausalCAMHead',
        num_classes=20,
        in_channels=2048,
        adjustment=None,
        global_cam_size=128),
    # runner.test(): multi-scale + flip CAMs for the seed metric (IRN scales).
    # CAM files: CAMFileHook (default_hooks.cam_file, the *_trainaug.py
    # configs).
    test_cfg=dict(mode='cam', scales=(1.0, 0.5, 1.5, 2.0), flip=True))
