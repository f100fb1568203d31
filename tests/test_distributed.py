"""Two CPU processes under tools/dist_*.sh (torchrun, gloo) match one process.

Slow-ish (each launch imports torch and the OpenMMLab stack per process), so
the stages share one module-level setup: a generated dataset with an odd image
count and a fixed starting checkpoint.
"""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmc2am.pipeline.launcher import ForkedRun, forkable

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs/c2am/c2am_r18_gen.py')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run(cmd, log):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()),
               OMP_NUM_THREADS='1')
    if forkable(cmd):  # the one-process runs: as the pipeline starts them
        ret = ForkedRun(cmd, ROOT, env, log).wait(600)
    else:
        with open(log, 'w') as f:
            ret = subprocess.call(cmd, cwd=ROOT, env=env, stdout=f,
                                  stderr=subprocess.STDOUT, timeout=600)
    if ret != 0:
        with open(log) as f:
            pytest.fail(f'{cmd} failed ({ret}):\n{f.read()[-4000:]}')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from mmc2am.testing import generate_voc_dataset

    tmp = tmp_path_factory.mktemp('dist')
    data = str(tmp / 'VOC2012')
    # 7 train + 4 extra = 11 train_aug images: odd, so a 2-rank sampler
    # without padding gives the ranks 6 and 5 images.
    generate_voc_dataset(data, num_train=7, num_val=3, num_aug=4, img_size=48,
                         seed=3)
    cfg = Config.fromfile(CONFIG)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    start = str(tmp / 'start.pth')
    state = model.state_dict()
    # a random head leaves classes with all-zero CAMs, which GlobalCAMHook
    # refuses; non-negative weights on post-ReLU features keep them alive
    state['head.conv.weight'] = state['head.conv.weight'].abs()
    torch.save(dict(state_dict=state), start)
    opts = [
        f'load_from={start}', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=4', 'param_scheduler.end=1',
        'custom_hooks.0.scales=[1.0,0.5]', 'default_hooks.logger.interval=1',
    ] + [f'{k}_dataloader.dataset.data_root={data}'
         for k in ('train', 'val', 'test')]
    return dict(tmp=tmp, data=data, opts=opts)


def _train(setup, nproc):
    work = str(setup['tmp'] / f'train{nproc}')
    if nproc == 1:
        cmd = [sys.executable, 'tools/train.py', CONFIG]
    else:
        cmd = ['bash', 'tools/dist_train.sh', CONFIG, str(nproc)]
    _run(cmd + ['--work-dir', work, '--cfg-options', *setup['opts']],
         work + '.log')
    return work


def test_global_cam_two_processes_equal_one(setup):
    one = np.load(osp.join(_train(setup, 1), 'global_cam.npy'))
    work2 = _train(setup, 2)
    two = np.load(osp.join(work2, 'global_cam.npy'))
    assert one.shape == two.shape == (20, 128, 128)
    assert one.max() > 0
    np.testing.assert_allclose(two, one, atol=1e-5, rtol=0)
    with open(work2 + '.log') as f:
        log = f.read()
    assert 'Distributed launcher: pytorch' in log or 'launcher: pytorch' in log
    # the total batch of 4 is split over the 2 processes
    assert 'TotalBatchSampler: 2 images per process x 2 processes' in log
    setup['ckpt'] = osp.join(work2, 'epoch_1.pth')


def _test(setup, nproc):
    work = str(setup['tmp'] / f'test{nproc}')
    if nproc == 1:
        cmd = [sys.executable, 'tools/test.py', CONFIG, setup['ckpt']]
    else:
        cmd = ['bash', 'tools/dist_test.sh', CONFIG, setup['ckpt'], str(nproc)]
    opts = [o for o in setup['opts'] if 'dataloader' in o]
    opts += ['model.test_cfg.scales=[1.0,0.5]',
             'default_hooks.cam_file.type=CAMFileHook',
             f'default_hooks.cam_file.out_dir={work}/cams']
    _run(cmd + ['--work-dir', work, '--cfg-options', *opts], work + '.log')
    with open(osp.join(work, 'test_metrics.json')) as f:
        return work, json.load(f)


def test_seed_metric_two_processes_equal_one(setup):
    if 'ckpt' not in setup:
        pytest.skip('needs the checkpoint of the distributed training test')
    work1, one = _test(setup, 1)
    work2, two = _test(setup, 2)
    assert one.keys() == two.keys()
    for k in one:
        assert two[k] == pytest.approx(one[k], abs=1e-6), k
    # every one of the 7 (odd) train images got exactly one CAM file
    for work in (work1, work2):
        files = sorted(os.listdir(osp.join(work, 'cams')))
        assert len(files) == 7 and all(f.endswith('.npz') for f in files)
