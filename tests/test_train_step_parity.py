"""Training step (issue 15): same network and numbers as plain PyTorch, fewer
param groups, host-side targets, frozen stages outside autograd."""
import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.engine.optimizers import (
    CompactOptimWrapperConstructor,
    merge_param_groups,
)
from mmc2am.models.cam_data_preprocessor import CAMDataPreprocessor

NUM_CLASSES = 5
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def build_model(preprocessor='ClsDataPreprocessor', seed=0):
    """IRN-style CAM classifier on ResNet-18 (output stride 16, frozen stem
    + layer1 + layer2, BN statistics frozen), random BN statistics."""
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='mmc2am.CAMClassifier',
            data_preprocessor=dict(
                type=preprocessor, num_classes=NUM_CLASSES, mean=MEAN,
                std=STD, to_rgb=True, to_onehot=True),
            backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1),
                          out_indices=(3, ), frozen_stages=2, norm_eval=True),
            head=dict(type='mmc2am.CausalCAMHead', num_classes=NUM_CLASSES,
                      in_channels=512, global_cam_size=8)))
    model.init_weights()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(
                    torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(
                    torch.rand(m.num_features, generator=g) + 0.5)
    return model.train()


LABELS = [[0], [1, 3], [4], [2, 0, 1]]


def batch(n=4, size=32, seed=0, stacked=True):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g,
                           dtype=torch.uint8)
    return dict(
        inputs=images if stacked else list(images),
        data_samples=[DataSample().set_gt_label(LABELS[i % len(LABELS)])
                      for i in range(n)])


def multi_hot(n=4):
    target = torch.zeros(n, NUM_CLASSES)
    for i in range(n):
        target[i, LABELS[i % len(LABELS)]] = 1
    return target


OPTIM = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))


# ---------------------------------------------------------------------- #
# optimizer param groups
# ---------------------------------------------------------------------- #
def test_merge_param_groups_by_options():
    a, b, c, d = (torch.nn.Parameter(torch.zeros(1)) for _ in range(4))
    groups = [
        dict(params=[a], lr=0.1, betas=[0.9, 0.99]),
        dict(params=[b], lr=1.0),
        dict(params=[c], lr=0.1, betas=[0.9, 0.99]),  # same as the first
        dict(params=[d], lr=0.1, betas=[0.9, 0.999]),
    ]
    merged = merge_param_groups(groups)
    assert [len(g['params']) for g in merged] == [2, 1, 1]
    assert merged[0]['params'][0] is a and merged[0]['params'][1] is c
    assert merged[0]['lr'] == 0.1 and merged[0]['betas'] == [0.9, 0.99]
    assert merged[1]['params'][0] is b and merged[1]['lr'] == 1.0
    assert merged[2]['params'][0] is d


def test_compact_constructor_two_groups_same_updates():
    """2 groups instead of one per parameter, the same parameters and the
    same options, so SGD steps give identical weights."""
    default_model, compact_model = build_model(), build_model()
    default_ow = build_optim_wrapper(default_model, copy.deepcopy(OPTIM))
    compact_ow = build_optim_wrapper(
        compact_model,
        dict(copy.deepcopy(OPTIM),
             constructor='mmc2am.CompactOptimWrapperConstructor'))

    trainable = [n for n, p in compact_model.named_parameters()
                 if p.requires_grad]
    assert len(default_ow.optimizer.param_groups) == len(trainable)
    groups = compact_ow.optimizer.param_groups
    assert len(groups) == 2
    assert [g['lr'] for g in groups] == [pytest.approx(0.1),
                                         pytest.approx(1.0)]
    names = {id(p): n for n, p in compact_model.named_parameters()}
    assert [names[id(p)] for p in groups[1]['params']] == ['head.conv.weight']
    assert sorted(names[id(p)] for g in groups for p in g['params']) == \
        sorted(trainable)  # every trainable parameter once, no frozen one

    for step in range(2):
        default_model.train_step(batch(seed=step), default_ow)
        compact_model.train_step(batch(seed=step), compact_ow)
    for (name, p), q in zip(default_model.named_parameters(),
                            compact_model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_compact_constructor_is_registered_in_mmc2am_registry():
    from mmc2am.registry import OPTIM_WRAPPER_CONSTRUCTORS
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'CompactOptimWrapperConstructor') is CompactOptimWrapperConstructor


# ---------------------------------------------------------------------- #
# frozen stages
# ---------------------------------------------------------------------- #
def test_frozen_stages_are_not_tracked_by_autograd():
    """Stem + layer1 + layer2 build no graph (as IRN's ``.detach()``), get
    no gradient, and their BN statistics stay as they were."""
    model = build_model()
    backbone = model.backbone
    seen = {}
    for name in ('layer2', 'layer3'):
        getattr(backbone, name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, o))
    frozen = [backbone.conv1, backbone.bn1, backbone.layer1, backbone.layer2]
    stats = copy.deepcopy(backbone.layer1.state_dict())
    ow = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    model.train_step(batch(), ow)

    assert seen['layer2'].grad_fn is None
    assert not seen['layer2'].requires_grad
    assert seen['layer3'].grad_fn is not None
    for module in frozen:
        for p in module.parameters():
            assert not p.requires_grad and p.grad is None
    for key, value in backbone.layer1.state_dict().items():
        assert torch.equal(value, stats[key]), key
    assert all(not m.training for m in model.modules()
               if isinstance(m, torch.nn.BatchNorm2d))


# ---------------------------------------------------------------------- #
# the same network as plain PyTorch
# ---------------------------------------------------------------------- #
def plain_resnet18(model):
    """torchvision ResNet-18 at output stride 16 with the model's weights."""
    net = torchvision.models.resnet18(weights=None)
    net.layer4[0].conv1.stride = (1, 1)
    net.layer4[0].downsample[0].stride = (1, 1)
    del net.fc
    missing, unexpected = net.load_state_dict(
        model.backbone.state_dict(), strict=False)
    assert not missing and not unexpected
    return net.eval()


def test_loss_and_gradients_equal_plain_pytorch():
    """CAMClassifier's train step computes IRN's plain-PyTorch loss and
    gradients: no-grad stem..layer2, eval BN, GAP, 1x1 conv, soft margin."""
    model = build_model('mmc2am.CAMDataPreprocessor')
    net = plain_resnet18(model)
    head_w = model.head.conv.weight.detach().clone().requires_grad_(True)

    data = batch()
    x = data['inputs'].flip(1).float()  # BGR -> RGB
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(
        STD).view(1, 3, 1, 1)
    with torch.no_grad():
        f = net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(
            net.conv1(x))))))
    f = net.layer4(net.layer3(f))
    logits = F.conv2d(F.adaptive_avg_pool2d(f, 1), head_w).flatten(1)
    plain_loss = F.multilabel_soft_margin_loss(logits, multi_hot())
    plain_loss.backward()

    ow = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))
    log = model.train_step(data, ow)
    torch.testing.assert_close(log['loss'], plain_loss.detach(),
                               rtol=1e-5, atol=1e-6)
    # train_step zeroes the gradients after the step: recompute them
    model.zero_grad()
    pre = model.data_preprocessor(batch(), True)
    model(pre['inputs'], pre['data_samples'], mode='loss')['loss'].backward()
    torch.testing.assert_close(model.head.conv.weight.grad, head_w.grad,
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(model.backbone.layer4[1].conv2.weight.grad,
                               net.layer4[1].conv2.weight.grad,
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(model.backbone.layer3[0].bn1.weight.grad,
                               net.layer3[0].bn1.weight.grad,
                               rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------- #
# CAMDataPreprocessor
# ---------------------------------------------------------------------- #
def preprocessors():
    kw = dict(num_classes=NUM_CLASSES, mean=MEAN, std=STD, to_rgb=True,
              to_onehot=True)
    return ClsDataPreprocessor(**kw), CAMDataPreprocessor(**kw)


@pytest.mark.parametrize('stacked', [True, False])
def test_cam_preprocessor_training_targets_on_host(stacked):
    """Same normalised images as ClsDataPreprocessor; float32 multi-hot
    targets (mmpretrain's are int64) equal to the hand-made ones."""
    cls_pre, cam_pre = preprocessors()
    ref = cls_pre(batch(stacked=stacked), True)
    out = cam_pre(batch(stacked=stacked), True)
    assert torch.equal(out['inputs'], ref['inputs'])
    scores = torch.stack([s.gt_score for s in out['data_samples']])
    assert scores.dtype == torch.float32
    assert torch.equal(scores, multi_hot())
    assert torch.equal(
        scores, torch.stack([s.gt_score for s in ref['data_samples']]).float())
    # the labels stay as the dataloader gave them
    assert out['data_samples'][3].gt_label.tolist() == [2, 0, 1]


def test_cam_preprocessor_falls_back_outside_training():
    """Validation, and samples that already carry scores, take
    ClsDataPreprocessor's own path (same outputs, same dtypes)."""
    cls_pre, cam_pre = preprocessors()
    ref, out = cls_pre(batch(), False), cam_pre(batch(), False)
    assert torch.equal(out['inputs'], ref['inputs'])
    for r, o in zip(ref['data_samples'], out['data_samples']):
        assert torch.equal(o.gt_score, r.gt_score)
        assert o.gt_score.dtype == r.gt_score.dtype == torch.int64

    given = batch()
    for s in given['data_samples']:
        s.set_gt_score(torch.full((NUM_CLASSES, ), 0.5))
    out = cam_pre(given, True)
    assert torch.equal(out['data_samples'][0].gt_score,
                       torch.full((NUM_CLASSES, ), 0.5))


def test_cam_classifier_default_preprocessor_and_same_loss():
    """A data_preprocessor config without type builds CAMDataPreprocessor;
    the loss is the one ClsDataPreprocessor gives."""
    model = MODELS.build(
        dict(type='mmc2am.CAMClassifier',
             data_preprocessor=dict(num_classes=3),
             backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
             head=dict(type='mmc2am.CausalCAMHead', num_classes=3,
                       in_channels=512)))
    assert type(model.data_preprocessor) is CAMDataPreprocessor

    cls_model, cam_model = build_model(), build_model('mmc2am.CAMDataPreprocessor')
    ow = OptimWrapper(torch.optim.SGD(cls_model.parameters(), lr=0.0))
    ow2 = OptimWrapper(torch.optim.SGD(cam_model.parameters(), lr=0.0))
    torch.testing.assert_close(cam_model.train_step(batch(), ow2)['loss'],
                               cls_model.train_step(batch(), ow)['loss'],
                               rtol=0, atol=0)
