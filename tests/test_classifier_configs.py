"""The classifier-stage configs load, build and (generated variants) run."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import mmc2am  # noqa: F401
from mmc2am.utils import find_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# what `tools/train.py CONFIG --cfg-options model.backbone.init_cfg=None` does
NO_PRETRAINED = {'model.backbone.init_cfg': None}


# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def _cfg(name, options=NO_PRETRAINED):
    cfg = Config.fromfile(find_config(name))
    cfg.merge_from_dict(dict(options))
    return cfg


@pytest.mark.parametrize('name,adjustment', [
    ('cam_r50_voc.py', None),
    ('c2am_r50_voc.py', 'front_door'),
    ('c2am_r50_voc_spatial.py', 'front_door_spatial'),
])
def test_real_configs_build(name, adjustment):
    cfg = _cfg(name)
    assert cfg.default_scope == 'mmc2am'
    assert cfg.custom_imports.imports == ['mmc2am']
    init_default_scope('mmc2am')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'CAMClassifier'
    assert model.backbone.depth == 50
    assert model.backbone.strides == (1, 2, 2, 1)
    assert model.backbone.frozen_stages == 2 and model.backbone.norm_eval
    assert model.head.adjustment == adjustment
    assert model.head.in_channels == 2048 and model.head.num_classes == 20
    assert model.head.global_cam_size == 128
    assert model.test_cfg['mode'] == 'cam'
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.train_dataloader.dataset.ann_file.endswith('trainaug.txt')
    assert cfg.test_dataloader.dataset.ann_file.endswith('/train.txt')
    assert cfg.optim_wrapper.optimizer.momentum == 1e-4  # as IRN ran
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.head.lr_mult == 10
    if adjustment is None:
        assert cfg.optim_wrapper.optimizer.lr == 0.1
        assert cfg.train_cfg.max_epochs == 5 and cfg.param_scheduler.end == 5
        assert cfg.get('custom_hooks') is None
        # the real config keeps the pretrained init for users
        raw = Config.fromfile(find_config(name))
        assert raw.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    else:
        assert cfg.optim_wrapper.optimizer.lr == 5e-4
        assert cfg.train_cfg.max_epochs == 4 and cfg.param_scheduler.end == 4
        assert cfg.load_from == 'work_dirs/cam_r50_voc/epoch_5.pth'
        assert [h.type for h in cfg.custom_hooks] == ['GlobalCAMHook']


def test_head_lr_is_ten_times_the_backbone_lr():
    from mmengine.optim import build_optim_wrapper
    cfg = _cfg('c2am_r50_voc.py')
    init_default_scope('mmc2am')
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    lrs = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optim.optimizer.param_groups:
        for p in group['params']:
            lrs[names[id(p)]] = group['lr']
    assert lrs['head.conv.weight'] == pytest.approx(5e-3)
    assert lrs['backbone.layer4.0.conv1.weight'] == pytest.approx(5e-4)


def test_head_in_a_stock_mmpretrain_config(tmp_path):
    """CausalCAMHead in mmpretrain's ResNet-18 config via custom_imports only."""
    cfg_file = tmp_path / 'stock_r18_causal_cam.py'
    cfg_file.write_text(textwrap.dedent("""
        _base_ = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'
        custom_imports = dict(imports=['mmc2am'], allow_failed_imports=False)
        model = dict(
            head=dict(_delete_=True, type='mmc2am.CausalCAMHead',
                      num_classes=20, in_channels=512))
        """))
    # A fresh interpreter, so only custom_imports can register the head.
    script = textwrap.dedent(f"""
        import sys, torch
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        cfg = Config.fromfile({str(cfg_file)!r})
        assert 'mmc2am' in sys.modules
        from mmpretrain.registry import MODELS
        from mmpretrain.structures import DataSample
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        model.init_weights()
        samples = [DataSample().set_gt_label([1, 3]),
                   DataSample().set_gt_label([0])]
        loss = model(torch.randn(2, 3, 32, 32), samples, mode='loss')['loss']
        loss.backward()
        preds = model(torch.randn(2, 3, 32, 32), samples, mode='predict')
        assert preds[0].pred_score.shape == (20, )
        print('OK', type(model.head).__name__, float(loss))
        """)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'OK CausalCAMHead' in out.stdout


def _gen_cfg(name, voc_root, work_dir, **extra):
    cfg = _cfg(name, {})
    cfg.work_dir = str(work_dir)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = voc_root
        cfg[key].dataset.label_cache = None
    # keep the test small: a few images, one epoch
    cfg.train_dataloader.dataset.indices = 16
    cfg.train_dataloader.batch_size = 8
    cfg.val_dataloader.dataset.indices = 4
    cfg.test_dataloader.dataset.indices = 2
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler.end = 1
    cfg.log_level = 'WARNING'
    cfg.merge_from_dict(extra)
    return cfg


def test_generated_configs_train_and_test(voc_root, tmp_path):
    """cam_r18_gen -> c2am_r18_gen (load_from the CAM run) -> seeds."""
    cam_cfg = _gen_cfg('cam_r18_gen.py', voc_root, tmp_path / 'cam')
    assert cam_cfg.model.backbone.init_cfg is None
    runner = Runner.from_cfg(cam_cfg)
    runner.train()
    ckpt = tmp_path / 'cam' / 'epoch_1.pth'
    assert ckpt.is_file()
    # One epoch on 16 images leaves most classes' CAMs all zero, which
    # GlobalCAMHook refuses (test_global_cam_hook.py); non-negative head
    # weights on the post-ReLU features keep every map alive.
    state = torch.load(ckpt, map_location='cpu')
    state['state_dict']['head.conv.weight'].abs_()
    torch.save(state, ckpt)

    c2am_cfg = _gen_cfg(
        'c2am_r18_gen.py', voc_root, tmp_path / 'c2am', load_from=str(ckpt))
    c2am_cfg.custom_hooks[0].scales = (1.0, )
    c2am_cfg.model.test_cfg.scales = (1.0, )
    assert c2am_cfg.model.head.adjustment == 'front_door'
    runner = Runner.from_cfg(c2am_cfg)
    runner.train()
    hook = [h for h in runner.hooks if type(h).__name__ == 'GlobalCAMHook'][0]
    assert hook.num_passes == 1
    g = np.load(tmp_path / 'c2am' / 'global_cam.npy')
    assert g.shape == (20, 128, 128) and np.isfinite(g).all()
    assert (tmp_path / 'c2am' / 'global_cam.png').is_file()
    state = torch.load(tmp_path / 'c2am' / 'epoch_1.pth', map_location='cpu')
    assert np.allclose(state['state_dict']['head.global_cam'].numpy(), g)

    # seeds of the fine-tuned model on `train` (SeedMetric)
    metrics = runner.test()
    assert any('miou' in k.lower() for k in metrics), metrics
