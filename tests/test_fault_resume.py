"""Fault tests: SIGKILL a ``tools/train.py`` run, rerun it, get the same weights.

Every run is the repo's ``tools/train.py`` in a process of its own (forked
from an import-only one, as tools/run_pipeline.py starts its stages) on the tiny
generated set (8 train images of 64 px, ResNet-18, batch 4: 2 iterations an
epoch) with one OpenMP thread, killed with SIGKILL at a point read from its
work dir. CPU kernels with a fixed thread count run the same operations in
the same order, so a resumed run must end on *exactly* the weights of an
uninterrupted one: the tolerance is 0.
"""
import glob
import hashlib
import os
import os.path as osp
import re
import signal
import sys
import time
from typing import Callable, Dict, List

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, set_random_seed
from mmengine.runner.checkpoint import _load_checkpoint

import mmc2am  # noqa: F401  (safe-global allow-list for runner checkpoints)
from mmc2am.engine.hooks.epoch_seed_hook import EpochSeedHook, epoch_seed
from mmc2am.pipeline.launcher import ForkedRun

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(ROOT, 'tools/train.py')
CAM_CONFIG = osp.join(ROOT, 'configs/cam/cam_r18_gen.py')
C2AM_CONFIG = osp.join(ROOT, 'configs/c2am/c2am_r18_gen.py')
# Three epochs: a kill right after epoch 1's checkpoint leaves a whole epoch
# of margin before the run would end by itself.
EPOCHS = 3
ITERS_PER_EPOCH = 2  # 8 train images, batch 4
# C2AM's six scales (+ flips), set explicitly: they make the global-CAM pass
# long enough (about a second here) to kill the run inside it.
PASS_SCALES = 'custom_hooks.0.scales=(1.0,0.5,1.5,2.0,2.5,3.0)'
PASS_LINE = 'GlobalCAMHook: computing the global CAM'
TIMESTAMP_DIR = re.compile(r'^\d{8}_\d{6}$')


def _opts(voc_root: str) -> List[str]:
    """Everything the runs depend on, set explicitly (config defaults move)."""
    return [
        f'train_cfg.max_epochs={EPOCHS}', f'param_scheduler.end={EPOCHS}',
        'randomness.seed=0', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt',
        'train_dataloader.dataset.indices=8',
        # no validation: it plays no part in the weights
        'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
        # keep every checkpoint: the test checks none written before the kill
        # is lost (rotation would delete epoch_1.pth by design)
        'default_hooks.checkpoint.max_keep_ckpts=-1',
    ] + [f'{k}_dataloader.dataset.data_root={voc_root}'
         for k in ('train', 'test')]


def _cmd(config: str, work_dir: str, opts: List[str], resume: bool) -> list:
    return [sys.executable, TRAIN, config, '--work-dir', work_dir,
            *(['--resume'] if resume else []), '--cfg-options', *opts]


def _env() -> dict:
    # One thread: deterministic kernels and no fight over the 2 shared cores.
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ''


def _run(cmd: list, out: str) -> str:
    """Run to the end; return its output (also kept in ``out``)."""
    code = ForkedRun(cmd, ROOT, _env(), out).wait(300)
    text = _read(out)
    assert code == 0, f'{cmd}\n{text[-4000:]}'
    return text


def _kill_when(cmd: list, out: str, ready: Callable[[], bool]) -> None:
    """Start ``cmd`` in its own process group; SIGKILL the group at ``ready()``."""
    run = ForkedRun(cmd, ROOT, _env(), out, new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not ready():
            assert run.poll() is None, (
                f'the run ended before the kill point\n{_read(out)[-4000:]}')
            assert time.monotonic() < deadline, 'kill point never reached'
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        code = run.wait(60)
    assert code == -signal.SIGKILL


def _run_logs(work_dir: str) -> List[str]:
    """The mmengine log file of every run in ``work_dir``, oldest first."""
    if not osp.isdir(work_dir):
        return []
    dirs = sorted(d for d in os.listdir(work_dir) if TIMESTAMP_DIR.match(d))
    return [osp.join(work_dir, d, d + '.log') for d in dirs]


def _saved(work_dir: str, epoch: int) -> Callable[[], bool]:
    """True once mmengine recorded epoch ``epoch``'s checkpoint as complete
    (``last_checkpoint`` is written after the ``.pth``)."""
    record = osp.join(work_dir, 'last_checkpoint')
    return lambda: _read(record).endswith(f'epoch_{epoch}.pth')


def _digest(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _snapshot(work_dir: str) -> Dict[str, str]:
    """sha256 of every file under ``work_dir`` by relative path."""
    return {osp.relpath(p, work_dir): _digest(p)
            for p in glob.glob(osp.join(work_dir, '**'), recursive=True)
            if osp.isfile(p)}


def _recorded_epoch(work_dir: str) -> int:
    """The epoch of the checkpoint ``last_checkpoint`` names (0: none)."""
    m = re.search(r'epoch_(\d+)\.pth$', _read(osp.join(work_dir,
                                                         'last_checkpoint')))
    return int(m.group(1)) if m else 0


def _assert_kept(before: Dict[str, str], work_dir: str, epoch: int) -> None:
    """Files written before the kill are still there, byte for byte.

    ``epoch``: the last complete checkpoint at the kill; a later one may be
    half written (mmengine's torch.save is not atomic) and is redone.
    """
    # Rewritten by design on a rerun: the resume record, and the config dump
    # (it records resume=True).
    skip = {'last_checkpoint', *(k for k in before if k.endswith('.py'))}
    skip |= {f'epoch_{e}.pth' for e in range(epoch + 1, EPOCHS + 1)}
    changed = [
        k for k in before if k not in skip
        and not (osp.isfile(osp.join(work_dir, k))
                 and _digest(osp.join(work_dir, k)) == before[k])
    ]
    assert not changed, f'lost or changed after the rerun: {changed}'


def _state(path: str) -> Dict[str, torch.Tensor]:
    return _load_checkpoint(path, map_location='cpu')['state_dict']


def _assert_same_weights(a: str, b: str) -> None:
    """Every tensor of the two checkpoints' state dicts is identical."""
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    diff = {k: (sa[k].double() - sb[k].double()).abs().max().item()
            for k in sa}
    assert all(np.isfinite(d) for d in diff.values()), 'non-finite weights'
    bad = {k: d for k, d in diff.items() if d != 0}
    assert not bad, f'{a} vs {b}: max abs differences {bad}'


def _train_in_process(config: str, work_dir: str) -> None:
    """The uninterrupted reference: ``config`` (a killed run's dump, so
    exactly what tools/train.py built) trained to the end in this process,
    one thread as the subprocesses (no interpreter start: about 5 s saved).
    """
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.resume, cfg.log_level = work_dir, False, 'WARNING'
    num = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Runner.from_cfg(cfg).train()
    finally:
        torch.set_num_threads(num)


@pytest.fixture(scope='module')
def cam_runs(voc_root, tmp_path_factory):
    """A plain-CAM run killed after epoch 1, and the same run uninterrupted."""
    tmp = tmp_path_factory.mktemp('fault')
    full, killed = str(tmp / 'cam_full'), str(tmp / 'cam_killed')
    opts = _opts(voc_root)
    _kill_when(_cmd(CAM_CONFIG, killed, opts, False),
               str(tmp / 'cam_killed.out'), _saved(killed, 1))
    at_kill = _snapshot(killed)
    _train_in_process(osp.join(killed, 'cam_r18_gen.py'), full)
    return dict(tmp=tmp, full=full, killed=killed, opts=opts, at_kill=at_kill,
                epoch=_recorded_epoch(killed))


def test_cam_killed_then_resumed_equals_uninterrupted(cam_runs):
    """Plain CAM killed after epoch 1; the same command with --resume ends on
    the uninterrupted run's weights; the killed run's files are intact."""
    full, killed, at_kill = (cam_runs[k] for k in ('full', 'killed', 'at_kill'))
    assert 'epoch_1.pth' in at_kill
    assert f'epoch_{EPOCHS}.pth' not in at_kill  # killed before the end
    resumed_epoch = cam_runs['epoch']

    out = _run(_cmd(CAM_CONFIG, killed, cam_runs['opts'], True),
               str(cam_runs['tmp'] / 'cam_resumed.out'))
    # the new process continues the iteration count from the checkpoint
    assert (f'resumed epoch: {resumed_epoch}, '
            f'iter: {resumed_epoch * ITERS_PER_EPOCH}') in out, out[-3000:]
    last = _load_checkpoint(osp.join(killed, f'epoch_{EPOCHS}.pth'),
                            map_location='cpu')['meta']
    assert (last['epoch'], last['iter']) == (EPOCHS, EPOCHS * ITERS_PER_EPOCH)
    _assert_same_weights(osp.join(full, f'epoch_{EPOCHS}.pth'),
                         osp.join(killed, f'epoch_{EPOCHS}.pth'))
    _assert_kept(at_kill, killed, resumed_epoch)
    # the killed run's log stays beside the resumed run's
    assert len(_run_logs(killed)) == 2


def test_a_resumed_runner_holds_the_checkpoints_optimizer_state(
        cam_runs, tmp_path):
    """A runner checkpoint loads under torch 2.14 (``weights_only``) with its
    momentum buffers, and a runner resumed from it holds exactly them (was
    tests/test_train_resume.py, which trained two more runs for this)."""
    ckpt = osp.join(cam_runs['full'], 'epoch_1.pth')
    first = _load_checkpoint(ckpt, map_location='cpu')
    assert first['meta']['iter'] == ITERS_PER_EPOCH
    assert first['optimizer']['state'], 'no momentum buffers saved'

    cfg = Config.fromfile(osp.join(cam_runs['full'], 'cam_r18_gen.py'))
    cfg.work_dir, cfg.log_level = str(tmp_path / 'probe'), 'WARNING'
    cfg.experiment_name = 'resume_probe'  # its own logger (see below)
    cfg.resume, cfg.load_from = True, ckpt
    runner = Runner.from_cfg(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.load_or_resume()
    assert (runner.iter, runner.epoch) == (ITERS_PER_EPOCH, 1)
    state = runner.optim_wrapper.optimizer.state_dict()['state']
    assert state.keys() == first['optimizer']['state'].keys()
    for k, v in first['optimizer']['state'].items():
        torch.testing.assert_close(state[k]['momentum_buffer'],
                                   v['momentum_buffer'], rtol=0, atol=0)


def test_epoch_seed_makes_an_epochs_augmentation_independent_of_history(
        cam_runs):
    """What a resume loses without EpochSeedHook, on the real train loader.

    mmengine restores the sampler order (``DefaultSampler``: seed + epoch)
    but not the global RNGs the transforms draw from: epoch 1's batches after
    epoch 0 differ from epoch 1's batches drawn first, as a run resumed at
    epoch 1 draws them. Reseeding from (seed, epoch) makes them equal.
    """
    cfg = Config.fromfile(osp.join(cam_runs['full'], 'cam_r18_gen.py'))
    assert cfg.default_hooks.epoch_seed.type == 'EpochSeedHook'
    seed = cfg.randomness.seed
    init_default_scope(cfg.default_scope)
    loader = Runner.build_dataloader(cfg.train_dataloader.copy(), seed=seed)
    sampler = loader.sampler if hasattr(loader.sampler, 'set_epoch') \
        else loader.batch_sampler.sampler

    def epoch(e: int, reseed: bool) -> torch.Tensor:
        if reseed:  # EpochSeedHook.before_train_epoch
            set_random_seed(epoch_seed(seed, e))
        sampler.set_epoch(e)  # DistSamplerSeedHook
        # default_collate stacks the batch; pseudo_collate gives a list
        return torch.cat([
            (b['inputs'] if torch.is_tensor(b['inputs']) else
             torch.stack(b['inputs'])).flatten() for b in loader
        ])

    for reseed in (False, True):
        set_random_seed(seed)  # the runner's seeding at its start
        epoch(0, reseed)
        after_epoch_0 = epoch(1, reseed)
        set_random_seed(seed)  # a runner resumed at epoch 1
        drawn_first = epoch(1, reseed)
        assert torch.equal(after_epoch_0, drawn_first) == reseed


def test_epoch_seed_hook_warns_resume_with_persistent_workers(
        cam_runs, tmp_path):
    """Persistent workers keep their own RNGs, which no hook in the main
    process can restore: a resumed run with them is told so."""
    cfg = Config.fromfile(osp.join(cam_runs['full'], 'cam_r18_gen.py'))
    cfg.train_dataloader.update(num_workers=1, persistent_workers=True)
    cfg.log_level = 'WARNING'
    for resume in (False, True):
        cfg.work_dir = str(tmp_path / str(resume))
        # two runners in one second would share mmengine's logger (named by
        # the experiment and its timestamp), and so one log file
        cfg.experiment_name = f'persistent_workers_resume_{resume}'
        cfg.resume = resume
        cfg.load_from = osp.join(cam_runs['full'], 'epoch_1.pth')
        runner = Runner.from_cfg(cfg.copy())
        runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
        runner.load_or_resume()
        hook = next(h for h in runner.hooks if isinstance(h, EpochSeedHook))
        hook.before_train(runner)
        log = _read(_run_logs(cfg.work_dir)[-1])
        assert ('EpochSeedHook: train_dataloader has persistent workers'
                in log) == resume


def test_c2am_killed_in_global_cam_pass_then_rerun_equals_uninterrupted(
        cam_runs):
    """C2AM killed inside the global-CAM pass, rerun with --resume (killed
    again after epoch 1, resumed again): same global CAM, same weights."""
    tmp = cam_runs['tmp']
    # The tiny CAM run leaves most classes' CAMs all zero, which
    # GlobalCAMHook refuses; non-negative head weights on the post-ReLU
    # features keep every map alive (as tests/test_classifier_configs.py).
    state = _state(osp.join(cam_runs['full'], f'epoch_{EPOCHS}.pth'))
    state['head.conv.weight'] = state['head.conv.weight'].abs()
    start = str(tmp / 'cam_start.pth')
    torch.save(dict(state_dict=state), start)
    opts = cam_runs['opts'] + [f'load_from={start}', PASS_SCALES]
    full, killed = str(tmp / 'c2am_full'), str(tmp / 'c2am_killed')

    # 1. killed inside the global-CAM pass: nothing of the pass is on disk
    _kill_when(_cmd(C2AM_CONFIG, killed, opts, False),
               str(tmp / 'c2am_killed.out'),
               lambda: any(PASS_LINE in _read(p) for p in _run_logs(killed)))
    at_kill = _snapshot(killed)
    assert not [k for k in at_kill if 'global_cam' in k or k.endswith('.pth')]
    _train_in_process(osp.join(killed, 'c2am_r18_gen.py'), full)

    # 2. the same command with --resume has no checkpoint to resume: it
    #    starts again from load_from and recomputes the pass; killed again
    #    after its first epoch
    _kill_when(_cmd(C2AM_CONFIG, killed, opts, True),
               str(tmp / 'c2am_rerun.out'), _saved(killed, 1))
    assert PASS_LINE in _read(_run_logs(killed)[-1])
    np.testing.assert_array_equal(
        np.load(osp.join(killed, 'global_cam.npy')),
        np.load(osp.join(full, 'global_cam.npy')))
    _assert_same_weights(osp.join(full, 'epoch_1.pth'),
                         osp.join(killed, 'epoch_1.pth'))
    _assert_kept(at_kill, killed, 0)
    at_second_kill = _snapshot(killed)
    resumed_epoch = _recorded_epoch(killed)

    # 3. --resume again continues the C2AM checkpoint (not load_from), whose
    #    global CAM buffer is restored: no pass
    out = _run(_cmd(C2AM_CONFIG, killed, opts, True),
               str(tmp / 'c2am_resumed.out'))
    assert f'resumed epoch: {resumed_epoch}' in out, out[-3000:]
    assert PASS_LINE not in _read(_run_logs(killed)[-1])
    _assert_same_weights(osp.join(full, f'epoch_{EPOCHS}.pth'),
                         osp.join(killed, f'epoch_{EPOCHS}.pth'))
    _assert_kept(at_second_kill, killed, resumed_epoch)
    assert len(_run_logs(killed)) == 3
