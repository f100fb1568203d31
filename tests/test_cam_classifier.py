"""CAMClassifier: CAM shape, frozen stages, BN statistics, train/val/test steps,
the CAM generator chosen by type."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.cam import predict_cams
from mmc2am.models.cam_generators import AdvCAM, MultiScaleCAM

NUM_CLASSES = 4
BASE_MODEL = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                      'configs', '_base_', 'models', 'cam_r50.py')


# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def build_model(adjustment=None, test_cfg=None):
    """The classifier of configs/_base_/models/cam_r50.py with a ResNet-18
    from random init and 4 classes."""
    cfg = Config.fromfile(BASE_MODEL).model
    cfg.data_preprocessor.num_classes = NUM_CLASSES
    cfg.backbone.update(depth=18, init_cfg=None)
    cfg.head.update(num_classes=NUM_CLASSES, in_channels=512,
                    adjustment=adjustment, global_cam_size=8)
    cfg.test_cfg = test_cfg
    torch.manual_seed(0)
    init_default_scope('mmc2am')  # the configs' scope
    model = MODELS.build(cfg)
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


def test_cam_generator_chosen_by_type():
    """test_cfg.cam_generator selects the registered generator; the other
    test_cfg keys are its arguments; the default is today's predict_cams."""
    default = build_model(test_cfg=dict(mode='cam', scales=(1.0, 0.5),
                                        flip=False))
    gen = default.cam_generator
    assert type(gen) is MultiScaleCAM
    assert (gen.scales, gen.flip, gen.reference) == ((1.0, 0.5), False, False)
    data = default.data_preprocessor(_batch(n=2, h=40, w=56), False)
    out = default.test_step(_batch(n=2, h=40, w=56))
    ref = predict_cams(default, data['inputs'], data['data_samples'],
                       scales=(1.0, 0.5), flip=False)
    for a, b in zip(out, ref):
        assert a.cam_keys.tolist() == b.cam_keys.tolist()
        assert torch.equal(a.cam, b.cam)
        assert torch.equal(a.high_res_cam, b.high_res_cam)

    adv = build_model(test_cfg=dict(
        mode='cam', scales=(1.0, ), cam_generator=dict(
            type='AdvCAM', adv_iter=2, ad_coeff=3.0)))
    gen = adv.cam_generator
    assert type(gen) is AdvCAM
    assert (gen.scales, gen.flip, gen.iters) == ((1.0, ), True, [2])
    assert (gen.ad_coeff, gen.ad_stepsize) == (3.0, 0.08)
    # predict runs it (under the test loop's no_grad too)
    out = adv.test_step(_batch(n=1, h=32, w=32))
    data = adv.data_preprocessor(_batch(n=1, h=32, w=32), False)
    ref = AdvCAM(scales=(1.0, ), adv_iter=2, ad_coeff=3.0)(
        adv, data['inputs'], data['data_samples'])
    assert torch.equal(out[0].high_res_cam, ref[0].high_res_cam)
    # a 'cls' model has its generator too (CAMInferencer switches the mode)
    assert type(build_model().cam_generator) is MultiScaleCAM
    # the generators are plain registered components
    built = MODELS.build(dict(type='mmc2am.AdvCAM', scales=(1.0, 2.0),
                              scale_iters=(3, 1)))
    assert type(built) is AdvCAM and built.iters == [3, 1]
    assert 'AdvCAM(scales=(1.0, 2.0)' in repr(built)


def test_cam_generator_errors():
    with pytest.raises(KeyError, match='cam_generator.*NoSuchCAM'):
        build_model(test_cfg=dict(mode='cam',
                                  cam_generator=dict(type='NoSuchCAM')))
    # registered, but not a CAM generator
    with pytest.raises(TypeError, match="GlobalAveragePooling' is not a CAM"):
        build_model(test_cfg=dict(
            mode='cam',
            cam_generator=dict(type='mmpretrain.GlobalAveragePooling')))
    # an argument the generator does not take
    with pytest.raises(TypeError, match='adv_iter'):
        build_model(test_cfg=dict(mode='cam', adv_iter=2))
    # one setting in two places
    with pytest.raises(ValueError, match=r"\['scales'\].*one place"):
        build_model(test_cfg=dict(
            mode='cam', scales=(1.0, ),
            cam_generator=dict(type='AdvCAM', scales=(1.0, 0.5))))
    # the old mode string says what replaced it
    with pytest.raises(ValueError, match="type='AdvCAM'"):
        build_model(test_cfg=dict(mode='advcam', adv_iter=2))
    with pytest.raises(ValueError, match='CAMFileHook'):
        build_model(test_cfg=dict(mode='cam', cam_dir='cams'))
