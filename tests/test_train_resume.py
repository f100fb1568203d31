"""tools/train.py trains, saves and resumes under torch 2.14 (weights_only)."""
import os
import os.path as osp
import re
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs/cam/cam_r18_gen.py')


def _train(voc_root, work_dir, epochs, *extra):
    opts = [f'train_cfg.max_epochs={epochs}', 'param_scheduler.end=2',
            'train_cfg.val_interval=10', 'train_dataloader.batch_size=8',
            'train_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt',
            'default_hooks.logger.interval=1'] + [
                f'{k}_dataloader.dataset.data_root={voc_root}'
                for k in ('train', 'val', 'test')]
    out = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir,
         *extra, '--cfg-options', *opts],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def test_train_then_resume(voc_root, tmp_path):
    work = str(tmp_path / 'work')
    _train(voc_root, work, 1)
    first = _load_checkpoint(osp.join(work, 'epoch_1.pth'), map_location='cpu')
    iters = first['meta']['iter']
    assert iters == 3  # 24 train images, batch 8
    assert first['optimizer']['state'], 'no momentum buffers saved'

    # The checkpoint's optimizer state is what a resumed runner holds.
    cfg = Config.fromfile(osp.join(work, 'cam_r18_gen.py'))
    cfg.work_dir = str(tmp_path / 'probe')
    cfg.resume = True
    cfg.load_from = osp.join(work, 'epoch_1.pth')
    runner = Runner.from_cfg(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.load_or_resume()
    assert runner.iter == iters and runner.epoch == 1
    state = runner.optim_wrapper.optimizer.state_dict()['state']
    assert state.keys() == first['optimizer']['state'].keys()
    for k, v in first['optimizer']['state'].items():
        torch.testing.assert_close(state[k]['momentum_buffer'],
                                   v['momentum_buffer'])

    # --resume in a new process continues the count from the checkpoint.
    log = _train(voc_root, work, 2, '--resume')
    assert re.search(r'resumed epoch: 1, iter: 3', log), log[-3000:]
    second = _load_checkpoint(osp.join(work, 'epoch_2.pth'), map_location='cpu')
    assert second['meta']['iter'] == 2 * iters
    assert second['meta']['epoch'] == 2
