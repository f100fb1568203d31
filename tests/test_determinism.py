"""Determinism: a classifier stage run twice, as a user runs it, trains the
same model bit for bit.

Each run is the repo's ``tools/train.py`` in a process of its own, forked
from an import-only one as tools/run_pipeline.py starts its stages
(:mod:`mmc2am.pipeline.launcher`), on a generated-data
config (``cam_r18_gen.py``, then ``c2am_r18_gen.py`` with its global-CAM
pass) in its own work dir, with the environment ``tools/run_pipeline.py``
gives the generated-data stages (``OMP_NUM_THREADS=1``), on a tiny generated
set (12 train_aug images of 64 px, batch 4: 3 iterations an epoch). Nothing
but the work dir differs between two runs, so the final checkpoints must hold
*identical* tensors and the logs the same losses: the tolerance is 0. A run
with another ``randomness.seed`` must differ, or the equality proves nothing.
"""
import json
import os
import os.path as osp
import re
import sys
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint

import mmc2am  # noqa: F401  (safe-global allow-list for runner checkpoints)
from mmc2am.pipeline.launcher import ForkedRun
from mmc2am.testing import generate_voc_dataset

pytestmark = pytest.mark.usefixtures('one_thread')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(ROOT, 'tools/train.py')
CAM_CONFIG = osp.join(ROOT, 'configs/cam/cam_r18_gen.py')
C2AM_CONFIG = osp.join(ROOT, 'configs/c2am/c2am_r18_gen.py')
# The demo's data options (tools/run_pipeline.py's defaults), shrunk: 8
# train + 4 aug images (trainaug: 12, the classifiers' training set), 4 val.
DATA = dict(num_train=8, num_val=4, num_aug=4, img_size=64, seed=0,
            context_prob=0.5, max_objects=3,
            classes=['aeroplane', 'bicycle', 'bird', 'bus', 'cat', 'horse',
                     'pottedplant', 'sheep'])
# Two epochs: the second starts from EpochSeedHook's reseeding and the
# sampler's reshuffle, the paths a one-epoch run never takes.
CAM_EPOCHS = 2
C2AM_EPOCHS = 1
ITERS_PER_EPOCH = 3  # 12 images, batch 4, drop_last
TIMESTAMP_DIR = re.compile(r'^\d{8}_\d{6}$')
# Wall-clock scalars of mmengine's log: the only ones allowed to differ.
TIMING_KEYS = {'time', 'data_time', 'eta', 'memory'}


def _opts(data_root: str, epochs: int) -> List[str]:
    """The shrinking; everything else (seed included) is the config's."""
    return [
        f'train_cfg.max_epochs={epochs}', f'param_scheduler.end={epochs}',
        'train_dataloader.batch_size=4',
        # every iteration's loss in the log
        'default_hooks.logger.interval=1',
    ] + [f'{k}_dataloader.dataset.data_root={data_root}'
         for k in ('train', 'val', 'test')]


def _env() -> dict:
    """tools/run_pipeline.py's environment for the generated-data stages."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    return env


def _train(config: str, work_dir: str, opts: List[str]) -> str:
    """``tools/train.py config --work-dir work_dir --cfg-options opts`` run
    to the end, from the work dir's parent (as run_pipeline runs a stage
    from its work folder); returns the final checkpoint's path."""
    out = work_dir + '.out'
    code = ForkedRun([sys.executable, TRAIN, config, '--work-dir', work_dir,
                      '--cfg-options', *opts], osp.dirname(work_dir),
                     _env(), out).wait(300)
    with open(out) as f:
        text = f.read()
    assert code == 0, f'{config}\n{text[-4000:]}'
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def _checkpoint(path: str) -> dict:
    return _load_checkpoint(path, map_location='cpu')


def _tensors(tree, prefix: str = '') -> Dict[str, object]:
    """Every leaf of a nested dict / list, by its path."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return {prefix: tree}
    out = {}
    for k, v in items:
        out.update(_tensors(v, f'{prefix}.{k}' if prefix else str(k)))
    return out


def _differences(a, b) -> List[str]:
    """The paths whose leaves are not identical (tensors: ``torch.equal``,
    same dtype), plus the paths only one side has."""
    ta, tb = _tensors(a), _tensors(b)
    bad = sorted(set(ta) ^ set(tb))
    for k in sorted(set(ta) & set(tb)):
        x, y = ta[k], tb[k]
        if torch.is_tensor(x) or torch.is_tensor(y):
            same = (torch.is_tensor(x) and torch.is_tensor(y)
                    and x.dtype == y.dtype and torch.equal(x, y))
        else:
            same = x == y
        if not same:
            bad.append(k)
    return bad


def _assert_same_training(a: str, b: str) -> None:
    """Checkpoints ``a`` and ``b``: same state_dict keys, every tensor
    bit-identical; the optimizer state (momentum buffers) too."""
    ca, cb = _checkpoint(a), _checkpoint(b)
    sa, sb = ca['state_dict'], cb['state_dict']
    assert list(sa) == list(sb), 'the state_dicts have different keys'
    assert sa, 'empty state_dict'
    bad = [k for k in sa if not (sa[k].dtype == sb[k].dtype
                                 and torch.equal(sa[k], sb[k]))]
    diff = {k: (sa[k].double() - sb[k].double()).abs().max().item()
            for k in bad}
    assert not bad, f'{a} vs {b}: max abs differences {diff}'
    assert not _differences(ca['optimizer'], cb['optimizer']), (
        f'optimizer state differs: {_differences(ca["optimizer"], cb["optimizer"])}')
    assert ca['meta']['seed'] == cb['meta']['seed']


def _logged(work_dir: str) -> List[dict]:
    """The run's logged scalars (``vis_data/scalars.json``: losses and
    learning rates of every iteration, the val metrics) without the
    wall-clock ones."""
    runs = sorted(d for d in os.listdir(work_dir) if TIMESTAMP_DIR.match(d))
    assert len(runs) == 1, runs
    path = osp.join(work_dir, runs[0], 'vis_data', 'scalars.json')
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS}
            for row in rows]


def _losses(work_dir: str) -> List[float]:
    return [row['loss'] for row in _logged(work_dir) if 'loss' in row]


@pytest.fixture(scope='module')
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp('determinism')


@pytest.fixture(scope='module')
def data_root(tmp) -> str:
    """The tiny generated set, made once for the module."""
    root = str(tmp / 'data' / 'VOC2012')
    generate_voc_dataset(root, **DATA)
    return root


@pytest.fixture(scope='module')
def cam_runs(tmp, data_root) -> Dict[str, str]:
    """Two plain-CAM runs of the same command: their final checkpoints."""
    opts = _opts(data_root, CAM_EPOCHS)
    return {name: _train(CAM_CONFIG, str(tmp / name), opts)
            for name in ('cam_a', 'cam_b')}


def test_cam_stage_twice_gives_identical_weights_and_losses(tmp, cam_runs):
    a, b = cam_runs['cam_a'], cam_runs['cam_b']
    assert osp.basename(a) == osp.basename(b) == f'epoch_{CAM_EPOCHS}.pth'
    _assert_same_training(a, b)
    losses = _losses(str(tmp / 'cam_a'))
    assert len(losses) == CAM_EPOCHS * ITERS_PER_EPOCH
    assert all(np.isfinite(losses))
    assert losses == _losses(str(tmp / 'cam_b'))
    # and every other logged scalar: learning rates, val mAP / F1
    assert _logged(str(tmp / 'cam_a')) == _logged(str(tmp / 'cam_b'))


def test_cam_stage_with_another_seed_differs(tmp, data_root, cam_runs):
    """The equality above is not vacuous: the seed reaches the weights."""
    ckpt = _train(CAM_CONFIG, str(tmp / 'cam_seed1'),
                  _opts(data_root, CAM_EPOCHS) + ['randomness.seed=1'])
    ref = _checkpoint(cam_runs['cam_a'])
    other = _checkpoint(ckpt)
    assert (ref['meta']['seed'], other['meta']['seed']) == (0, 1)
    sa, sb = ref['state_dict'], other['state_dict']
    assert list(sa) == list(sb)
    differ = [k for k in sa if sa[k].is_floating_point()
              and not torch.equal(sa[k], sb[k])]
    # every weight of a random init differs, not just some
    assert 'head.conv.weight' in differ and 'backbone.conv1.weight' in differ
    assert _losses(str(tmp / 'cam_seed1')) != _losses(str(tmp / 'cam_a'))


def test_c2am_stage_twice_gives_identical_global_cam_weights_and_losses(
        tmp, data_root, cam_runs):
    """C2AM fine-tuning (GlobalCAMHook's pass, then the front-door head)
    from the same plain-CAM checkpoint, twice."""
    # Two epochs on 12 images leave most classes' CAMs all zero, which
    # GlobalCAMHook refuses; non-negative head weights on the post-ReLU
    # features keep every map alive (as tests/test_fault_resume.py does).
    state = _checkpoint(cam_runs['cam_a'])['state_dict']
    state['head.conv.weight'] = state['head.conv.weight'].abs()
    start = str(tmp / 'cam_start.pth')
    torch.save(dict(state_dict=state), start)

    opts = _opts(data_root, C2AM_EPOCHS) + [f'load_from={start}']
    a = _train(C2AM_CONFIG, str(tmp / 'c2am_a'), opts)
    b = _train(C2AM_CONFIG, str(tmp / 'c2am_b'), opts)
    assert osp.basename(a) == osp.basename(b) == f'epoch_{C2AM_EPOCHS}.pth'

    global_cam = np.load(str(tmp / 'c2am_a' / 'global_cam.npy'))
    assert global_cam.any()  # the pass ran and found maps
    np.testing.assert_array_equal(
        global_cam, np.load(str(tmp / 'c2am_b' / 'global_cam.npy')))
    _assert_same_training(a, b)  # the head's global_cam buffer included
    assert 'head.global_cam' in _checkpoint(a)['state_dict']
    losses = _losses(str(tmp / 'c2am_a'))
    assert len(losses) == C2AM_EPOCHS * ITERS_PER_EPOCH
    assert losses == _losses(str(tmp / 'c2am_b'))
    assert _logged(str(tmp / 'c2am_a')) == _logged(str(tmp / 'c2am_b'))
