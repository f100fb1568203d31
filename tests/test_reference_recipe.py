"""The real-data configs train what the reference ran (issue 10).

IRN's and C2AM's PolyOptimizer: SGD with momentum 1e-4 (weight decay passed
into the momentum slot) and weight decay 1e-4 in every param group, head lr
x10, lr0 * (1 - step / max_step) ** 0.9 per step; 16 images per step in total
whatever the number of processes; PyTorch's default init of the 1x1 head.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope
from mmpretrain.registry import MODELS

import mmc2am  # noqa: F401
from mmc2am.datasets.samplers import TotalBatchSampler
from mmc2am.utils import find_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NO_PRETRAINED = {'model.backbone.init_cfg': None}
TRAIN_AUG = 10582  # VOC 2012 train_aug ids


def _cfg(name: str) -> Config:
    cfg = Config.fromfile(find_config(name))
    cfg.merge_from_dict(NO_PRETRAINED)
    return cfg


@pytest.mark.parametrize('name,lr,epochs,momentum', [
    ('cam_r50_voc.py', 0.1, 5, 1e-4),
    ('c2am_r50_voc.py', 5e-4, 4, 1e-4),
    ('cam_r50_voc_m09.py', 0.1, 5, 0.9),
    ('c2am_r50_voc_m09.py', 5e-4, 4, 0.9),
])
def test_optimizer_and_poly_schedule(name, lr, epochs, momentum):
    cfg = _cfg(name)
    init_default_scope('mmc2am')
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    head_lrs, body_lrs = set(), set()
    for group in optim.optimizer.param_groups:
        assert group['momentum'] == momentum
        assert group['weight_decay'] == 1e-4
        for p in group['params']:
            (head_lrs if names[id(p)].startswith('head.') else
             body_lrs).add(group['lr'])
    assert sorted(body_lrs) == [pytest.approx(lr)]
    assert sorted(head_lrs) == [pytest.approx(10 * lr)]

    # PolyLR per iteration over (train_aug // 16) * epochs steps (drop_last)
    assert cfg.train_dataloader.batch_sampler.drop_last
    epoch_length = TRAIN_AUG // 16
    scheduler = PARAM_SCHEDULERS.build(
        cfg.param_scheduler,
        default_args=dict(optimizer=optim, epoch_length=epoch_length))
    for _ in range(3):
        optim.step()  # no gradients: a no-op step, as the runner orders it
        scheduler.step()
    max_step = epoch_length * epochs
    # IRN: lr0 * (1 - k / max_step) ** 0.9 at step k; mmengine's PolyLR
    # reaches 0 one step earlier (total_iters = max_step - 1): a relative
    # difference of 3e-7 here, listed in configs/README.md.
    expected = lr * (1 - 3 / (max_step - 1)) ** 0.9
    assert expected == pytest.approx(lr * (1 - 3 / max_step) ** 0.9,
                                     rel=1e-6)
    lrs = sorted({g['lr'] for g in optim.optimizer.param_groups})
    assert lrs == [pytest.approx(expected, rel=1e-12),
                   pytest.approx(10 * expected, rel=1e-12)]


@pytest.mark.parametrize('name,total', [
    ('cam_r50_voc.py', 16), ('c2am_r50_voc.py', 16), ('irn_r50_voc.py', 32)])
@pytest.mark.parametrize('world_size', [1, 2, 8])
def test_total_batch_over_processes(name, total, world_size):
    cfg = _cfg(name) if name != 'irn_r50_voc.py' else Config.fromfile(
        find_config(name))
    loader = cfg.train_dataloader
    assert loader.batch_size == total
    assert loader.batch_sampler.type == 'TotalBatchSampler'
    # each process samples its shard of ceil(N / world_size) ids
    shard = range(-(-TRAIN_AUG // world_size))
    kwargs = {k: v for k, v in loader.batch_sampler.items() if k != 'type'}
    sampler = TotalBatchSampler(shard, loader.batch_size,
                                world_size=world_size, **kwargs)
    assert sampler.batch_size * world_size == total
    assert all(len(b) == total // world_size for b in sampler)
    # the same number of steps per epoch as one process with the total
    assert len(sampler) == TRAIN_AUG // total


def test_total_batch_must_divide():
    with pytest.raises(ValueError, match='does not divide over 3'):
        TotalBatchSampler(range(10), 16, world_size=3)
    # one process: the whole batch
    assert TotalBatchSampler(range(10), 16).batch_size == 16


def test_head_keeps_pytorch_default_init():
    """IRN's classifier is a plain nn.Conv2d, never re-initialised."""
    init_default_scope('mmc2am')
    torch.manual_seed(3)
    head = MODELS.build(dict(type='CausalCAMHead', num_classes=20,
                             in_channels=64))
    head.init_weights()
    torch.manual_seed(3)
    ref = torch.nn.Conv2d(64, 20, 1, bias=False)
    assert torch.equal(head.conv.weight, ref.weight)


def test_c2am_reference_scales_and_networks():
    cfg = _cfg('c2am_r50_voc.py')
    scales = (1.0, 0.5, 1.5, 2.0, 2.5, 3.0)
    hook = cfg.custom_hooks[0]
    assert tuple(hook.scales) == scales and hook.cam_resolution == 'square'
    assert hook.reduce == 'by_class'
    assert tuple(cfg.model.test_cfg.scales) == scales
    assert tuple(_cfg('cam_r50_voc.py').model.test_cfg.scales) == (
        1.0, 0.5, 1.5, 2.0)
    # the released network: stride 32 and BN training for the fine-tuning,
    # stride 16 for the CAMs
    os32 = _cfg('c2am_r50_voc_os32.py').model.backbone
    assert tuple(os32.strides) == (1, 2, 2, 2)
    assert os32.frozen_stages == 0 and not os32.norm_eval
    assert tuple(_cfg('c2am_r50_voc_os32_cam16.py').model.backbone.strides) == (
        1, 2, 2, 1)


def test_generated_c2am_follows_the_real_c2am_settings():
    real, gen = _cfg('c2am_r50_voc.py'), _cfg('c2am_r18_gen.py')
    assert gen.model.head.adjustment == real.model.head.adjustment
    assert tuple(gen.model.test_cfg.scales) == tuple(real.model.test_cfg.scales)
    for key in ('type', 'scales', 'flip', 'reduce', 'cam_resolution'):
        assert gen.custom_hooks[0][key] == real.custom_hooks[0][key], key
    assert gen.optim_wrapper == real.optim_wrapper  # reference optimizer
