"""CAMClassifier: CAM shape, frozen stages, BN statistics, train/val/test steps."""
import math

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers the components)

NUM_CLASSES = 4


# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def build_model(adjustment=None, test_cfg=None):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='CAMClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                num_classes=NUM_CLASSES,
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                to_rgb=True,
                to_onehot=True),
            backbone=dict(
                type='ResNet',
                depth=18,
                strides=(1, 2, 2, 1),
                out_indices=(3, ),
                frozen_stages=2,
                norm_eval=True),
            head=dict(
                type='CausalCAMHead',
                num_classes=NUM_CLASSES,
                in_channels=512,
                adjustment=adjustment,
                global_cam_size=8),
            test_cfg=test_cfg))
    model.init_weights()
    return model


def _batch(n=2, h=40, w=56, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
              for _ in range(n)]
    samples = []
    for i in range(n):
        s = DataSample().set_gt_label([i % NUM_CLASSES])
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w),
                            img_path=f'img_{i}.jpg', img_id=f'img_{i}'))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('hw', [(64, 64), (50, 70), (33, 17)])
def test_cam_shape_is_stride_16(hw):
    model = build_model().eval()
    with torch.no_grad():
        cam = model.forward_cam(torch.randn(2, 3, *hw))
    assert cam.shape == (2, NUM_CLASSES, math.ceil(hw[0] / 16),
                         math.ceil(hw[1] / 16))
    assert (cam >= 0).all()


def test_gradients_reach_trainable_stages_only():
    model = build_model()
    model.train()
    bn = model.backbone.layer3[0].bn1
    running_mean = bn.running_mean.clone()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    losses['loss'].backward()

    def grads(module):
        return [p.grad for p in module.parameters()]

    assert model.head.conv.weight.grad is not None
    assert model.head.conv.weight.grad.abs().sum() > 0
    for name in ('layer3', 'layer4'):
        gs = grads(getattr(model.backbone, name))
        assert all(g is not None for g in gs), name
        assert sum(g.abs().sum() for g in gs) > 0, name
    for name in ('conv1', 'bn1', 'layer1', 'layer2'):
        module = getattr(model.backbone, name)
        assert all(not p.requires_grad for p in module.parameters()), name
        assert all(g is None for g in grads(module)), name
    # norm_eval: BatchNorm statistics stay frozen in train mode
    assert not bn.training
    assert torch.equal(bn.running_mean, running_mean)


def test_train_val_and_cam_test_steps():
    model = build_model(test_cfg=dict(mode='cam', scales=(1.0, 0.5),
                                      flip=True))
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log_vars = model.train_step(_batch(), optim)
    assert torch.isfinite(log_vars['loss'])

    # val_step is plain multi-label classification
    preds = model.val_step(_batch())
    assert preds[0].pred_score.shape == (NUM_CLASSES, )
    assert ((preds[0].pred_score > 0) & (preds[0].pred_score < 1)).all()

    # test_step in CAM mode gives the CAMs of the present classes
    out = model.test_step(_batch(n=2, h=40, w=56))
    assert out[1].cam_keys.tolist() == [1]
    assert out[1].high_res_cam.shape == (1, 40, 56)
    assert out[1].cam.shape == (1, 10, 14)
    assert out[1].high_res_cam.max() <= 1.0


def test_cls_test_mode_and_errors():
    model = build_model()
    preds = model.test_step(_batch())
    assert 'pred_score' in preds[0]
    with pytest.raises(ValueError, match='mode'):
        build_model(test_cfg=dict(mode='seg'))
