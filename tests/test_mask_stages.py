"""The pseudo-mask stages run by tools/test.py (CRF, random walk).

Acceptance of issue 11: the masks and figures equal those of the tools they
replace (fixtures in tests/data/mask_stages, made by the old tools), two
processes under tools/dist_test.sh equal one, and a killed stage resumes to
the same masks with a sweep over every image.
"""
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest

from mmc2am.pipeline.launcher import ForkedRun
from mmc2am.testing import run_tool
from mmc2am.utils import find_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FIX = osp.join(REPO, 'tests', 'data', 'mask_stages')
TEST_TOOL = osp.join(REPO, 'tools', 'test.py')
# the fixtures' 4-channel ResNet-18 IRNet (tests/data/mask_stages/README.md)
TINY_IRNET = ['model.backbone.stem_channels=4',
              'model.backbone.base_channels=4',
              'model.in_channels=[4,4,8,16,32]']
STAGES = {
    'crf_cam': ('crf_gen_cam.py', None),
    'crf_c2am': ('crf_gen_c2am.py', None),
    'rw_cam': ('irn_r18_gen_cam.py', 'irnet_tiny.pth'),
    'rw_c2am': ('irn_r18_gen_c2am.py', 'irnet_tiny.pth'),
}

CRF_THRESHOLDS = {'crf_cam': (0.30, 0.05), 'crf_c2am': (0.375, 0.10)}


def _ids():
    with open(osp.join(FIX, 'ids.txt')) as f:
        return f.read().split()


def stage_args(stage, voc_root, work, *extra):
    """tools/test.py arguments of a stage on the fixture's 9 images; its
    masks go to the default folder, ``<work>/masks``."""
    config, ckpt = STAGES[stage]
    args = [find_config(config)]
    if ckpt:
        args.append(osp.join(FIX, ckpt))
    args += ['--work-dir', str(work), '--cfg-options',
             f'test_dataloader.dataset.data_root={voc_root}',
             f"test_dataloader.dataset.ann_file={osp.join(FIX, 'ids.txt')}",
             f"test_dataloader.dataset.cam_dir={osp.join(FIX, 'cams')}",
             f'test_evaluator.output_dir={work}', 'log_level=WARNING']
    if ckpt:
        args += TINY_IRNET
    else:
        # the thresholds the fixtures were made with (the generated-data
        # configs derive theirs from a seed sweep: thresholds_from_seeds)
        t_fg, t_bg = CRF_THRESHOLDS[stage]
        args += ['model.thresholds_from_seeds=None', f'model.t_fg={t_fg}',
                 f'model.t_bg={t_bg}']
    return args + list(extra)


def run_test_tool(args):
    """tools/test.py in this process; its metrics."""
    run_tool(TEST_TOOL, args)
    work = args[args.index('--work-dir') + 1]
    with open(osp.join(work, 'test_metrics.json')) as f:
        return json.load(f)


def mask_bytes(folder):
    return {name: open(osp.join(folder, name), 'rb').read()
            for name in sorted(os.listdir(folder)) if name.endswith('.png')}


def assert_same_figures(metrics, results_file, expected):
    """The figures the old tools reported (rounded to 0.01 as they were)."""
    keys = ['mIoU', 'aAcc', 'num_eval']
    keys += (['mIoU_confident', 'ignored_pct'] if 'mIoU_confident' in expected
             else ['best_bg_thr', 'best_mIoU', 'sweep_num_eval'])
    assert {k: metrics[k] for k in keys} == {k: expected[k] for k in keys}
    with open(results_file) as f:
        report = json.load(f)
    assert report['IoU'] == expected['IoU']
    if 'sweep_mIoU' in expected:
        assert report['sweep_mIoU'] == expected['sweep_mIoU']


@pytest.fixture(scope='module')
def expected():
    with open(osp.join(FIX, 'results.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def one_process(voc_root, tmp_path_factory):
    """Each stage run once by tools/test.py in this process."""
    out = {}
    for stage in STAGES:
        work = tmp_path_factory.mktemp(stage)
        out[stage] = (work, run_test_tool(stage_args(stage, voc_root, work)))
    return out


@pytest.mark.parametrize('stage', list(STAGES))
def test_same_masks_and_figures_as_the_old_tools(stage, one_process,
                                                 expected):
    """Acceptance 1: byte-identical PNGs, the same mIoU figures."""
    work, metrics = one_process[stage]
    got = mask_bytes(work / 'masks')
    ref = mask_bytes(osp.join(FIX, stage))
    assert sorted(got) == [f'{i}.png' for i in _ids()]
    for name in ref:
        assert got[name] == ref[name], name
    assert metrics['num_images'] == metrics['num_made'] == 9
    assert_same_figures(metrics, work / 'pseudo_mask_results.json',
                        expected[stage])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize('stage', ['crf_c2am', 'rw_cam'])
def test_two_processes_equal_one(stage, voc_root, one_process, tmp_path):
    """Acceptance 2: tools/dist_test.sh with 2 CPU processes, 9 images."""
    work = tmp_path / 'dist'
    # INFO: the log names the launcher
    args = stage_args(stage, voc_root, work, 'log_level=INFO')
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()),
               OMP_NUM_THREADS='1')
    # CONFIG [CHECKPOINT] NPROC [test.py args]
    n_pos = 2 if STAGES[stage][1] else 1
    cmd = ['bash', osp.join(REPO, 'tools', 'dist_test.sh'), *args[:n_pos],
           '2', *args[n_pos:]]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                          timeout=300)
    log = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0, log[-4000:]
    assert 'launcher: pytorch' in log or 'Distributed launcher' in log
    one_work, one = one_process[stage]
    with open(work / 'test_metrics.json') as f:
        two = json.load(f)
    assert two == one
    assert mask_bytes(work / 'masks') == mask_bytes(one_work / 'masks')
    with open(work / 'pseudo_mask_results.json') as f, \
            open(one_work / 'pseudo_mask_results.json') as g:
        assert json.load(f) == json.load(g)


# tools/test.py with each random walk slowed down, so it can be killed midway
SLOW_WALK = '''
import runpy, sys, time
from mmc2am.models.irn import irnet
walk = irnet.IRNet._walk
def slow(*args, **kwargs):
    time.sleep(0.4)
    return walk(*args, **kwargs)
irnet.IRNet._walk = slow
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def test_killed_stage_resumes_with_a_complete_sweep(voc_root, expected,
                                                    tmp_path, monkeypatch):
    """Acceptance 3: SIGKILL midway, the same command again: the same masks
    as an uninterrupted run, the finished ones not redone, the sweep over
    every image."""
    stage = 'rw_c2am'
    work = tmp_path / 'work'
    args = stage_args(stage, voc_root, work)
    # a process of its own, forked from the import-only forkserver
    script, log = tmp_path / 'slow_walk.py', str(tmp_path / 'slow_walk.log')
    script.write_text(SLOW_WALK)
    proc = ForkedRun([sys.executable, str(script), TEST_TOOL, *args], REPO,
                     dict(os.environ, OMP_NUM_THREADS='1'), log)
    masks = work / 'masks'
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if masks.is_dir() and len(list(masks.glob('*.png'))) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, open(log).read()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(60)
    before = {p.name: p.stat().st_mtime_ns for p in masks.glob('*.png')}
    assert 3 <= len(before) < 9

    from mmc2am.models.irn.irnet import IRNet
    walked = []
    walk = IRNet._walk

    def counting(self, sample, *a, **k):
        walked.append(sample.metainfo['img_id'])
        return walk(self, sample, *a, **k)

    monkeypatch.setattr(IRNet, '_walk', counting)
    metrics = run_test_tool(args)
    after = {p.name: p.stat().st_mtime_ns for p in masks.glob('*.png')}
    assert {k: after[k] for k in before} == before  # finished: untouched
    assert len(walked) == metrics['num_made'] == 9 - len(before)
    assert mask_bytes(masks) == mask_bytes(osp.join(FIX, stage))
    # the whole sweep and every figure, not only the images made now
    assert metrics['sweep_num_eval'] == metrics['num_eval'] == 5
    assert_same_figures(metrics, work / 'pseudo_mask_results.json',
                        expected[stage])
    assert not list(masks.rglob('.*.tmp'))


def test_crf_stage_resumes_from_its_masks(voc_root, one_process, expected,
                                          tmp_path):
    """Masks that exist are kept and scored from their files, their CAM
    files not even read (made unreadable here); the rest are made: the same
    masks and figures as one uninterrupted run."""
    import shutil

    ids = _ids()
    done = one_process['crf_cam'][0] / 'masks'
    work, cams = tmp_path / 'work', tmp_path / 'cams'
    os.makedirs(work / 'masks')
    for i in ids[:3]:
        shutil.copy(done / f'{i}.png', work / 'masks')
    shutil.copytree(osp.join(FIX, 'cams'), cams)
    for i in ids[:3]:
        (cams / f'{i}.npz').write_bytes(b'not a CAM file')
    metrics = run_test_tool(stage_args(
        'crf_cam', voc_root, work, f'test_dataloader.dataset.cam_dir={cams}'))
    assert (metrics['num_images'], metrics['num_made']) == (9, 6)
    assert mask_bytes(work / 'masks') == mask_bytes(osp.join(FIX, 'crf_cam'))
    assert_same_figures(metrics, work / 'pseudo_mask_results.json',
                        expected['crf_cam'])
    with open(work / 'masks' / '.mask_params.json') as f:
        assert json.load(f)['cam_dir'] == str(cams)


def test_rerun_with_other_settings_is_refused(voc_root, one_process):
    work, _ = one_process['crf_cam']
    with pytest.raises(ValueError, match='other settings.*t_fg'):
        run_test_tool(stage_args('crf_cam', voc_root, work,
                                 'model.t_fg=0.5'))


@pytest.mark.parametrize('config,match', [
    ('_base_/models/crf_confident_labels.py', 't_fg'),
])
def test_stage_bases_refuse_to_run_without_the_method(config, match):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmc2am  # noqa: F401
    cfg = Config.fromfile(find_config(config))
    init_default_scope('mmc2am')
    with pytest.raises(ValueError, match=match):
        MODELS.build(cfg.model)


def test_irn_without_background_score_refuses_the_walk(voc_root, tmp_path):
    args = stage_args('rw_cam', voc_root, tmp_path, 'model.test_cfg.bg_thr=None')
    with pytest.raises(ValueError, match='bg_thr'):
        run_test_tool(args)
