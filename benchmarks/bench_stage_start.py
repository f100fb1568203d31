"""Wall time of one pipeline stage started as a new interpreter versus forked
from the import-only forkserver (:mod:`mmc2am.pipeline.launcher`).

The stage is what the tiny pipeline of the test suite runs most:
``tools/train.py configs/cam/cam_r18_gen.py`` for one epoch on a tiny
generated set (8 train + 8 extra images of 64 px), one OpenMP thread. The two
ways alternate (``--repeats`` times each, the forkserver started before the
first timed fork) and must end on identical checkpoints; the report is the
median of each and their ratio, measured in the same run.

    python benchmarks/bench_stage_start.py [--repeats 3]
"""
import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()

    import torch

    from mmc2am.pipeline.launcher import ForkedRun
    from mmc2am.testing import generate_voc_dataset

    tmp = tempfile.mkdtemp(prefix='bench_stage_start_')
    root = osp.join(tmp, 'VOC2012')
    generate_voc_dataset(root, num_train=8, num_val=4, num_aug=8,
                         img_size=64, seed=0, classes=['cat', 'sheep'])
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)

    def cmd(work):
        return [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                osp.join(ROOT, 'configs', 'cam', 'cam_r18_gen.py'),
                '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=1',
                'param_scheduler.end=1'] + [
                    f'{k}_dataloader.dataset.data_root={root}'
                    for k in ('train', 'val', 'test')]

    def forked(work):
        code = ForkedRun(cmd(work), tmp, env, work + '.log').wait(600)
        assert code == 0, open(work + '.log').read()[-3000:]

    def spawned(work):
        with open(work + '.log', 'w') as log:
            code = subprocess.call(cmd(work), cwd=tmp, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        assert code == 0, open(work + '.log').read()[-3000:]

    forked(osp.join(tmp, 'warmup'))  # starts the forkserver (imports once)
    times = {'subprocess': [], 'fork': []}
    for i in range(args.repeats):
        for name, run in (('subprocess', spawned), ('fork', forked)):
            start = time.perf_counter()
            run(osp.join(tmp, f'{name}{i}'))
            times[name].append(time.perf_counter() - start)
    state = {}
    for name in times:
        ckpt = torch.load(osp.join(tmp, f'{name}0', 'epoch_1.pth'),
                          map_location='cpu', weights_only=False)
        state[name] = ckpt['state_dict']
    same = all(torch.equal(state['fork'][k], state['subprocess'][k])
               for k in state['fork'])
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f'one stage (train cam_r18_gen, 1 epoch), {args.repeats} runs each:')
    for k, v in times.items():
        print(f'  {k:10s} median {med[k]:6.2f} s  '
              f'({", ".join(f"{t:.2f}" for t in v)})')
    print(f'  fork / subprocess: {med["fork"] / med["subprocess"]:.2f}; '
          f'checkpoints identical: {same}')


if __name__ == '__main__':
    main()
