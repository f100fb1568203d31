"""ReCAMHead: the ReCAM loss and CAMs against hand computations; configs."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.models.heads import ReCAMHead
from mmc2am.utils import find_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def _head(C=4, D=5, **kw):
    torch.manual_seed(0)
    return ReCAMHead(num_classes=C, in_channels=D, **kw)


def _samples(labels, C=4):
    """Multi-hot ``gt_score``, as ClsDataPreprocessor(to_onehot=True) gives."""
    out = []
    for lb in labels:
        score = torch.zeros(C)
        score[list(lb)] = 1
        out.append(DataSample().set_gt_score(score))
    return out


def _hand_losses(f, W, Ws, labels, C):
    """ReCAM's loss written out element by element (plain Python sums over
    pixels, channels, classes), as the reference's Net_CAM_Feature +
    Class_Predictor + multilabel_soft_margin_loss compute it."""
    B, D, h, w = f.shape
    # multi-label soft margin on the GAP logits z = W GAP(f)
    bce = 0
    for b in range(B):
        for c in range(C):
            z = sum(W[c, d] * f[b, d].mean() for d in range(D))
            y = 1.0 if c in labels[b] else 0.0
            bce = bce - (y * torch.log(torch.sigmoid(z)) +
                         (1 - y) * torch.log(1 - torch.sigmoid(z)))
    bce = bce / (B * C)
    ce, correct, n = 0, 0, 0
    for b in range(B):
        if not labels[b]:
            continue
        per_img = 0
        for c in labels[b]:
            cam = torch.relu(sum(W[c, d] * f[b, d] for d in range(D)))
            cam = cam / (cam.max() + 1e-5)
            v = torch.stack([(cam * f[b, d]).sum() / (h * w)
                             for d in range(D)])
            logits = torch.stack([(Ws[k] * v).sum() for k in range(C)])
            per_img = per_img - (logits[c] - torch.logsumexp(logits, 0))
            correct += int(logits.argmax() == c)
            n += 1
        ce = ce + per_img / len(labels[b])
    return bce, ce / B, correct / n


def test_recam_loss_equals_hand_computation():
    C, D = 4, 5
    head = _head(C, D)
    torch.manual_seed(1)
    f = torch.randn(3, D, 4, 3).requires_grad_(True)
    labels = [[0, 2], [3], [0, 1, 3]]
    losses = head.loss((f, ), _samples(labels, C))
    W = head.conv.weight[:, :, 0, 0]
    Ws = head.recam_conv.weight[:, :, 0, 0]
    bce, ce, acc = _hand_losses(f, W, Ws, labels, C)
    assert losses['loss_cls'].item() == pytest.approx(bce.item(), rel=1e-5)
    assert losses['loss_recam'].item() == pytest.approx(ce.item(), rel=1e-5)
    assert losses['recam_acc'].item() == pytest.approx(acc)
    assert not losses['recam_acc'].requires_grad
    # The gradient flows through the CAMs (and their max) into the CAM
    # classifier W, as in the reference (nothing detached).
    g_head = torch.autograd.grad(losses['loss_recam'],
                                 [head.conv.weight, f])
    g_hand = torch.autograd.grad(ce, [head.conv.weight, f])
    for a, b in zip(g_head, g_hand):
        assert a.abs().max() > 0
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_image_without_class_counts_in_batch_and_loss_weight():
    C, D = 4, 5
    torch.manual_seed(2)
    f = torch.randn(2, D, 3, 3)
    labels = [[1, 2], []]  # the second image adds 0 but B = 2
    head = _head(C, D, recam_loss=dict(type='mmpretrain.CrossEntropyLoss',
                                       loss_weight=0.5))
    losses = head.loss((f, ), _samples(labels, C))
    W = head.conv.weight[:, :, 0, 0]
    Ws = head.recam_conv.weight[:, :, 0, 0]
    _, ce, _ = _hand_losses(f, W, Ws, labels, C)
    assert losses['loss_recam'].item() == pytest.approx(0.5 * ce.item(),
                                                        rel=1e-5)
    # no class at all: zero loss, still a graph to the parameters
    empty = head.loss((f, ), _samples([[], []], C))
    assert empty['loss_recam'].item() == 0 and empty['recam_acc'].item() == 0
    assert empty['loss_recam'].requires_grad


@pytest.mark.parametrize('cam_weight', ['product', 'cls', 'recam'])
def test_cam_weights(cam_weight):
    C, D = 3, 4
    head = _head(C, D, cam_weight=cam_weight)
    torch.manual_seed(3)
    f = torch.randn(2, D, 3, 5)
    W = head.conv.weight[:, :, 0, 0]
    Ws = head.recam_conv.weight[:, :, 0, 0]
    weight = dict(product=Ws * W, cls=W, recam=Ws)[cam_weight]
    hand = torch.stack([
        torch.stack([
            torch.relu(sum(weight[c, d] * f[b, d] for d in range(D)))
            for c in range(C)
        ]) for b in range(2)
    ])
    assert torch.allclose(head.cam((f, )), hand, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match='cam_weight'):
        _head(cam_weight='sum')
    with pytest.raises(ValueError, match='adjustment'):
        _head(adjustment='back_door')


def _cfg(name):
    cfg = Config.fromfile(find_config(name))
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    return cfg


def _group_lrs(cfg):
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    return model, {
        names[id(p)]: g['lr']
        for g in optim.optimizer.param_groups for p in g['params']
    }


def test_voc_config_is_the_published_recipe():
    cfg = _cfg('recam_r50_voc.py')
    model, lrs = _group_lrs(cfg)
    assert type(model.head).__name__ == 'ReCAMHead'
    assert model.head.cam_weight == 'product'
    assert model.head.recam_loss_module.loss_weight == 1.0
    assert not model.head.recam_loss_module.use_sigmoid
    assert model.head.adjustment is None
    assert model.backbone.depth == 50 and model.head.in_channels == 2048
    # ReCAM freezes conv1/bn1 only; BatchNorm statistics stay frozen
    assert model.backbone.frozen_stages == 0 and model.backbone.norm_eval
    assert not model.backbone.conv1.weight.requires_grad
    assert model.backbone.layer1[0].conv1.weight.requires_grad
    # lr 0.1 x 5e-4 on the backbone and the CAM classifier, 5e-4 on W_s
    assert lrs['backbone.layer1.0.conv1.weight'] == pytest.approx(5e-5)
    assert lrs['head.conv.weight'] == pytest.approx(5e-5)
    assert lrs['head.recam_conv.weight'] == pytest.approx(5e-4)
    assert cfg.optim_wrapper.optimizer.momentum == 1e-4  # as it ran
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.train_cfg.max_epochs == 4 and cfg.param_scheduler.end == 4
    assert cfg.param_scheduler.power == 0.9
    assert cfg.train_dataloader.batch_size == 16
    # ReCAM's CAM network has layer1-2 trained (its Net has no detach)
    assert cfg.load_from == 'work_dirs/cam_r50_voc_l12/epoch_5.pth'
    assert cfg.model.test_cfg.mode == 'cam'
    assert tuple(cfg.model.test_cfg.scales) == (1.0, 0.5, 1.5, 2.0)
    raw = Config.fromfile(find_config('recam_r50_voc.py'))
    assert raw.model.backbone.init_cfg is None  # starts from load_from


def test_generated_config_keeps_the_recam_settings():
    voc, gen = _cfg('recam_r50_voc.py'), _cfg('recam_r18_gen.py')
    assert gen.model.head == dict(voc.model.head, in_channels=512)
    # the same param groups (W_s at 10x); the optimizer that trains W_s in
    # the generated data's 75 steps (the config says why) ...
    assert gen.optim_wrapper.paramwise_cfg == voc.optim_wrapper.paramwise_cfg
    assert (gen.optim_wrapper.optimizer.lr,
            gen.optim_wrapper.optimizer.momentum) == (2e-2, 0.9)
    # ... and the reference's in the named variant
    ref = _cfg('recam_r18_gen_m1e-4.py')
    assert ref.optim_wrapper == voc.optim_wrapper
    assert gen.load_from == 'work_dirs/cam_r18_gen/epoch_15.pth'
    assert gen.model.backbone.depth == 18
    assert gen.train_dataloader.dataset.data_root != \
        voc.train_dataloader.dataset.data_root


def test_generated_config_trains(voc_root, tmp_path):
    """recam_r18_gen: one epoch on 16 tiny images, log vars of both losses,
    the checkpoint holds W_s."""
    cfg = _cfg('recam_r18_gen.py')
    cfg.work_dir = str(tmp_path)
    cfg.load_from = None
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = voc_root
        cfg[key].dataset.label_cache = None
    cfg.train_dataloader.dataset.indices = 16
    cfg.train_dataloader.batch_size = 8
    # training only: validation is the CAM classifier's, tested elsewhere
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler.end = 1
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = runner.message_hub.log_scalars
    for key in ('train/loss', 'train/loss_cls', 'train/loss_recam',
                'train/recam_acc'):
        assert key in scalars and math.isfinite(scalars[key].current())
    total = scalars['train/loss'].current()
    parts = (scalars['train/loss_cls'].current() +
             scalars['train/loss_recam'].current())
    assert total == pytest.approx(parts, rel=1e-5)
    state = torch.load(tmp_path / 'epoch_1.pth', map_location='cpu',
                       weights_only=False)
    assert state['state_dict']['head.recam_conv.weight'].shape == (20, 512,
                                                                   1, 1)
