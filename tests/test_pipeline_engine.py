"""mmc2am.pipeline: the stage engine with fake stages (scheduling order,
skip-if-done, failures, the command lines). A method added by configs and
one pipeline-config entry: tests/test_run_pipeline.py (it reuses that
file's tiny run)."""
import os.path as osp
import re
import sys

import pytest

from mmc2am.pipeline import EndedRun, Engine, Failure, Stage, StageRun
from mmc2am.utils import find_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


class FakeEngine(Engine):
    """Every stage ends at once, in-process, with ``codes[name]`` (else
    0); ``ran``: the stages started, by name, in order."""

    def __init__(self, codes=None, **kwargs):
        super().__init__(poll=0.001, **kwargs)
        self.codes = codes or {}
        self.ran = []

    def start(self, stage, folder, name):
        self.ran.append(name)
        return EndedRun(self.codes.get(name, 0), osp.join(folder, 'x.log'))


SECONDS = {'train a': 100, 'test a': 100, 'train b': 10, 'test b': 500}


def _engine(**kwargs):
    return FakeEngine(expected=lambda st: SECONDS.get(st.name, 60),
                      tag='t', **kwargs)


def _add_ab(engine, folder):
    """a: train -> test; b: train -> test, independent of a."""
    engine.add('ta', Stage('train', 'a.py'), folder)
    engine.add('sa', Stage('test', 'a.py', 'work_dirs/a'), folder, ['ta'])
    engine.add('tb', Stage('train', 'b.py'), folder)
    engine.add('sb', Stage('test', 'b.py', 'work_dirs/b'), folder, ['tb'])


def test_longest_chain_first_after_dependencies(tmp_path, capsys):
    # chains: train b 10 + 500, train a 100 + 100: b first, then its test
    # (500 s) before train a (200 s of chain)
    engine = _engine()
    _add_ab(engine, str(tmp_path))
    done = []
    assert engine.run(on_done=done.append) == []
    assert engine.ran == ['train b', 'test b', 'train a', 'test a']
    assert done == ['tb', 'sb', 'ta', 'sa']
    # a marker per stage, with its seconds
    for work, stage in (('a', 'train_a'), ('a', 'test_a'), ('b', 'test_b')):
        marker = tmp_path / 'work_dirs' / work / f'.done_{stage}'
        assert float(marker.read_text()) >= 0
    out = capsys.readouterr().out
    assert re.search(r'\[t \d\d:\d\d:\d\d\] train b: started \| 0/4 stages '
                     r'done, elapsed 0:00, about \d+:\d\d left', out), out
    assert re.search(r'test a: finished in 0 s \| 4/4 stages done, '
                     r'elapsed 0:00, about 0:00 left', out), out
    # two jobs: both chains start at once
    engine = _engine(jobs=2)
    _add_ab(engine, str(tmp_path / 'two'))
    engine.run()
    assert engine.ran[:2] == ['train b', 'train a']


def test_finished_stages_are_skipped(tmp_path, capsys):
    marker = tmp_path / 'work_dirs' / 'b' / '.done_train_b'
    marker.parent.mkdir(parents=True)
    marker.write_text('3.0\n')
    engine = _engine()
    _add_ab(engine, str(tmp_path))
    done = []
    engine.run(on_done=done.append)
    assert engine.ran == ['test b', 'train a', 'test a']
    assert done[0] == 'tb'  # a skipped stage counts as done
    assert 'train b: done before, skipped' in capsys.readouterr().out
    # a second run skips every stage
    engine = _engine()
    _add_ab(engine, str(tmp_path))
    engine.run()
    assert engine.ran == []


def test_a_failed_stage_is_named_and_stops_what_waits_for_it(tmp_path):
    log = str(tmp_path / 'x.log')
    engine = _engine(codes={'train b': 3})
    _add_ab(engine, str(tmp_path))
    with pytest.raises(SystemExit) as err:
        engine.run()
    assert str(err.value) == (
        f'[t] stage train b failed (exit 3); see {log}. Rerun the same '
        'command to continue from this stage.')
    # nothing started after it, no marker: the rerun starts there
    assert engine.ran == ['train b']
    assert not (tmp_path / 'work_dirs' / 'b' / '.done_train_b').exists()
    # keep_going: what does not wait for it runs, the failure is returned
    engine = _engine(codes={'train b': 3})
    _add_ab(engine, str(tmp_path))
    assert engine.run(keep_going=True) == [Failure('train b', 3, log)]
    assert engine.ran == ['train b', 'train a', 'test a']
    with pytest.raises(SystemExit, match=r'^\[t\] stage train b failed'):
        engine.fail([Failure('train b', 3, log)])
    with pytest.raises(ValueError, match='unknown'):
        engine = _engine()
        engine.add('x', Stage('test', 'a.py'), str(tmp_path), ['nothing'])
        engine.run()


def test_deferred_jobs_are_added_when_their_inputs_are_done(tmp_path,
                                                            capsys):
    engine = _engine()
    engine.add('ta', Stage('train', 'a.py'), str(tmp_path))

    def make():  # decided on what 'train a' left
        assert (tmp_path / 'work_dirs' / 'a' / '.done_train_a').exists()
        for i in range(2):
            engine.add(('c', i), Stage('test', 'a.py', 'work_dirs/a',
                                       work_dir=f'work_dirs/c{i}'),
                       str(tmp_path), label='late')

    engine.defer('later', make, ['ta'], stages=2, seconds=120)
    engine.run()
    assert engine.ran == ['train a', 'late test a -> c0', 'late test a -> c1']
    out = capsys.readouterr().out
    # counted before it is expanded
    assert re.search(r'train a: started \| 0/3 stages done, elapsed 0:00, '
                     r'about 3:40 left', out), out


def test_commands_resume_and_options(tmp_path):
    """The command lines: the tools on the configs, --resume for a killed
    training, checkpoints, --cfg-options by config stem, dist scripts."""
    engine = Engine(cfg_options=['cam_r18_gen:train_cfg.max_epochs=1',
                                 'other:x=1'])
    work = tmp_path / 'work_dirs' / 'cam_r18_gen'
    work.mkdir(parents=True)
    train = Stage('train', 'cam_r18_gen.py', opts=('randomness.seed=2', ))
    tool = osp.join(REPO, 'tools', 'train.py')
    cfg = find_config('cam_r18_gen.py')
    assert engine.command(train, str(tmp_path))[1:] == [
        tool, cfg, '--work-dir', 'work_dirs/cam_r18_gen', '--cfg-options',
        'randomness.seed=2', 'train_cfg.max_epochs=1']
    (work / 'last_checkpoint').write_text('/x/epoch_3.pth')  # killed
    assert engine.command(train, str(tmp_path))[1:5] == [
        tool, cfg, '--resume', '--work-dir']
    # a test of that checkpoint, never resumed
    seeds = Stage('test', 'cam_r18_gen.py', 'work_dirs/cam_r18_gen')
    assert engine.command(seeds, str(tmp_path))[1:] == [
        osp.join(REPO, 'tools', 'test.py'), cfg, '/x/epoch_3.pth',
        '--work-dir', 'work_dirs/cam_r18_gen', '--cfg-options',
        'train_cfg.max_epochs=1']
    # a training from another's last checkpoint (load_from after opts)
    ft = Stage('train', 'c2am_r18_gen.py', work_dir='w/ft', opts=('a=1', ),
               load_of='work_dirs/cam_r18_gen')
    assert engine.command(ft, str(tmp_path))[-3:] == [
        '--cfg-options', 'a=1', 'load_from=/x/epoch_3.pth']
    assert Engine.log_path(ft, '/f') == '/f/train_w_ft.log'
    assert Engine.log_path(seeds, '/f') == '/f/test_cam_r18_gen.log'
    engine = Engine(gpus=8)
    crf = Stage('test', 'crf_gen_cam.py')
    assert engine.command(crf, str(tmp_path)) == [
        'bash', osp.join(REPO, 'tools/dist_test.sh'),
        find_config('crf_gen_cam.py'), '8', '--work-dir',
        'work_dirs/crf_gen_cam']
    # names and markers
    seg = Stage('train', 'seg.py', work_dir='work_dirs/seg_cam_crf')
    assert (seg.name, seg.marker) == (
        'train seg -> seg_cam_crf', 'work_dirs/seg_cam_crf/.done_train_seg')
    assert seeds.name == 'test cam_r18_gen'


def test_a_stage_run_copies_its_output_and_progress(tmp_path, capsys):
    code = ('print("x - mmengine - INFO - Epoch(train) [1][2/4]  lr: 1");'
            'print("done"); raise SystemExit(4)')
    log = str(tmp_path / 'stage.log')
    run = StageRun([sys.executable, '-c', code], str(tmp_path),
                   Engine(stage_threads=1).env(), log, 'train a')
    while run.poll() is None:
        pass
    run.close()
    assert run.poll() == 4
    lines = open(log).read().splitlines()
    assert lines[0].startswith(sys.executable) and lines[-1] == 'done'
    assert capsys.readouterr().out == \
        '    train a: Epoch(train) [1][2/4]  lr: 1\n'
    env = Engine(stage_threads=1).env()
    assert env['PYTHONPATH'].split(':')[0] == REPO
