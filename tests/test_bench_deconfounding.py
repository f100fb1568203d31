"""benchmarks/bench_deconfounding.py (issue 17): the stages of one (strength,
seed) compare the forms on equal terms, and the table's means and
differences come from the test work dirs' metrics."""
import importlib.util
import json
import os.path as osp
from pathlib import Path

import pytest
from mmengine.config import Config

from mmc2am.pipeline import EndedRun, Engine, work_dir_of
from mmc2am.utils import find_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _module():
    spec = importlib.util.spec_from_file_location(
        'bench_deconfounding',
        osp.join(REPO, 'benchmarks', 'bench_deconfounding.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bd = _module()


def _cfg(name):
    return Config.fromfile(find_config(name),
                           import_custom_modules=False)


def _merged(config, opts):
    """The config with ``KEY=VALUE`` options merged (tuples parsed)."""
    cfg = _cfg(config)
    merged = {}
    for opt in opts:
        key, value = opt.split('=', 1)
        if value.startswith('('):
            value = tuple(float(v) for v in value[1:-1].split(','))
        merged[key] = value
    cfg.merge_from_dict(merged)
    return cfg


def _crf_inputs(stage, cams, masks, metrics):
    """Assert the CAM files, mask folder and seed metrics of a CRF stage
    (crf_gen_cam.py with its options: the masks go to MaskFileHook's
    default, ``<work dir>/masks``); its merged config."""
    crf = _merged('crf_gen_cam.py', stage.opts)
    assert crf.default_hooks.mask_file.get('out_dir') is None
    assert (crf.test_dataloader.dataset.cam_dir,
            osp.join(stage.work_dir, 'masks'),
            crf.model.thresholds_from_seeds.metrics) == (cams, masks, metrics)
    return crf


def _opt(stage, key):
    return [o for o in stage.opts if o.startswith(key + '=')]


def test_stages_of_one_strength_and_seed():
    forms = list(bd.FORMS)
    stages = bd.sequence(2, forms, '5e-3')
    for s in stages:
        assert osp.isfile(find_config(s.config)), s.config
        if s.config != bd.CRF:
            assert 'randomness.seed=2' in s.opts, s
    # the start point: plain CAM, its seeds, its CAM files, its CRF masks
    assert [(s.tool, s.config) for s in stages[:4]] == [
        ('train', 'cam_r18_gen.py'), ('test', 'cam_r18_gen.py'),
        ('test', 'cam_r18_gen_trainaug.py'), ('test', 'crf_gen_cam.py')]
    assert stages[1].ckpt_of == stages[2].ckpt_of == stages[0].work_dir
    # CONTA's confounder set is built from the start point's CRF masks
    conta = _cfg('conta_r18_gen.py').custom_hooks[0].mask_dir
    assert conta == osp.join(stages[3].work_dir, 'masks')
    ref = _cfg(bd.REFERENCE)
    start_epochs = _cfg(bd.START).train_cfg.max_epochs
    rest = stages[4:]
    assert len(rest) == 2 * len(forms)
    for form, train, test in zip(forms, rest[::2], rest[1::2]):
        config = bd.FORMS[form][0]
        assert (train.tool, train.config, test.tool, test.config) == (
            'train', config, 'test', config)
        assert test.ckpt_of == train.work_dir
        # every form fine-tunes the start point of the same seed at one lr
        assert _opt(train, 'optim_wrapper.optimizer.lr') == [
            'optim_wrapper.optimizer.lr=5e-3']
        cfg = _merged(config, train.opts)
        assert cfg.load_from == osp.join(
            stages[0].work_dir, f'epoch_{start_epochs}.pth')
        assert cfg.optim_wrapper.optimizer.lr == '5e-3'
        # ... for the same epochs, with the same batch
        assert cfg.train_cfg.max_epochs == ref.train_cfg.max_epochs == 5
        assert cfg.param_scheduler.end == 5
        assert cfg.train_dataloader.batch_size == \
            ref.train_dataloader.batch_size
        # ... and is tested with the same scales and flip
        cfg = _merged(config, test.opts)
        assert tuple(cfg.model.test_cfg.scales) == tuple(
            ref.model.test_cfg.scales)
        assert len(ref.model.test_cfg.scales) == 6
        assert cfg.model.test_cfg.flip == ref.model.test_cfg.flip
    # conta inherits plain CAM's four scales: the override is passed
    conta_test = rest[2 * forms.index('conta') + 1]
    assert _opt(conta_test, 'model.test_cfg.scales') == [
        'model.test_cfg.scales=(1.0,0.5,1.5,2.0,2.5,3.0)']
    assert len(_cfg('conta_r18_gen.py').model.test_cfg.scales) == 4
    # the control is plain fine-tuning; the context form has no global CAM
    control = _cfg('cam_r18_gen_ft.py')
    assert control.model.head.adjustment is None
    assert not control.get('custom_hooks')
    context = _cfg('c2am_r18_gen_context.py')
    assert context.model.head.adjustment == 'front_door_context'
    # --lr config: each config's own lr
    for s in bd.sequence(0, forms, 'config'):
        assert not _opt(s, 'optim_wrapper.optimizer.lr'), s


def test_crf_stages_of_a_form():
    # the options give a config cam_r18_gen_trainaug.py's CAM-file test
    cam = _merged('cam_r18_gen.py', bd.TRAINAUG_OPTS)
    trainaug = _cfg('cam_r18_gen_trainaug.py')
    assert cam.test_dataloader == trainaug.test_dataloader
    assert cam.default_hooks == trainaug.default_hooks
    cams, masks = bd.crf_stages(1, 'conta')
    assert (cams.tool, cams.config, cams.ckpt_of, cams.work_dir) == (
        'test', 'conta_r18_gen.py', 'work_dirs/conta_r18_gen',
        'work_dirs/conta_trainaug')
    assert 'model.test_cfg.scales=(1.0,0.5,1.5,2.0,2.5,3.0)' in cams.opts
    assert (masks.tool, masks.config, masks.work_dir) == (
        'test', 'crf_gen_cam.py', 'work_dirs/pseudo_mask_conta')
    crf = _crf_inputs(masks, 'work_dirs/conta_trainaug/cams',
                      'work_dirs/pseudo_mask_conta/masks',
                      'work_dirs/conta_r18_gen/test_metrics.json')
    assert crf.model.thresholds_from_seeds.bg == -0.10  # the rule is kept


def _write(path, metrics):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))


def test_table_from_test_metrics(tmp_path):
    forms = ['control', 'c2am', 'conta']
    seeds = [0, 1, 2]
    seed_miou = {  # per row, per seed
        'start': [30.0, 32.0, 34.0], 'control': [40.0, 41.0, 42.0],
        'c2am': [43.0, 43.0, 46.0], 'conta': [39.0, 40.0, 41.0]}
    dirs = dict(start='cam_r18_gen', control='cam_r18_gen_ft',
                c2am='c2am_r18_gen', conta='conta_r18_gen')
    for s in seeds:
        wd = tmp_path / 'p0.8' / f'seed{s}' / 'work_dirs'
        for row, d in dirs.items():
            # SeedMetric's keys, one of them prefixed as a metric may do
            _write(wd / d / 'test_metrics.json', {
                'seed/mIoU' if s == 1 else 'mIoU': seed_miou[row][s],
                'aAcc': 70.0, 'best_threshold': 0.5 + 0.01 * s})
        _write(wd / 'crf_gen_cam' / 'test_metrics.json',
               {'num_images': 240, 'mIoU': 50.0 + s, 'aAcc': 80.0})
        _write(wd / 'pseudo_mask_c2am' / 'test_metrics.json',
               {'mIoU': 60.0 + s})
        _write(wd / 'pseudo_mask_control' / 'test_metrics.json',
               {'mIoU': 55.0})
    values = bd.seed_values(str(tmp_path), 0.8, seeds, forms)
    assert values['c2am'][1] == dict(seed_miou=43.0, best_threshold=0.51,
                                     crf_miou=60.0 + 1)
    best = bd.best_forms(values, forms, 2)
    assert best == ['c2am', 'control']
    out = bd.summarise(values, forms, best)
    rows = out['rows']
    assert rows['c2am']['seed_miou']['mean'] == pytest.approx(44.0)
    assert rows['c2am']['seed_miou']['std'] == pytest.approx(3 ** 0.5)
    # per-seed differences 3, 2, 4
    assert rows['c2am']['diff_to_control']['mean'] == pytest.approx(3.0)
    assert rows['c2am']['diff_to_control']['std'] == pytest.approx(1.0)
    assert rows['conta']['diff_to_control']['mean'] == pytest.approx(-1.0)
    assert rows['conta']['diff_to_control']['std'] == pytest.approx(0.0)
    assert rows['control']['diff_to_control'] is None
    assert rows['start']['crf_miou']['mean'] == pytest.approx(51.0)
    assert rows['c2am']['crf_miou']['mean'] == pytest.approx(61.0)
    assert rows['control']['crf_miou']['std'] == pytest.approx(0.0)
    assert rows['conta']['crf_miou'] is None  # not one of the best two
    assert rows['conta']['best_threshold']['mean'] == pytest.approx(0.51)

    result = dict(settings=dict(
        context_probs=[0.8], seeds=seeds, lr='5e-3', forms=forms,
        crf_best=2, test_scales=[1.0, 0.5, 1.5, 2.0, 2.5, 3.0],
        fine_tuning_epochs=5, overrides=[], cfg_options=[]),
        strengths={'0.8': out})
    text = bd.table(result)
    lines = text.splitlines()
    assert lines[0] == ('| form | p=0.8: seed mIoU (t*) | p=0.8: vs control '
                        '| p=0.8: CRF mIoU |')
    assert lines[2].startswith('| start (plain CAM, 15 epochs, its own 4 '
                               'test scales) | 32.0 +- 2.0 (0.51) | '
                               '-9.0 +- 1.0 | 51.0 +- 1.0 |')
    assert lines[3] == ('| control (plain fine-tuning) | 41.0 +- 1.0 (0.51) '
                        '| - | 55.0 +- 0.0 |')
    assert lines[4] == '| C2AM | 44.0 +- 1.7 (0.51) | +3.0 +- 1.0 | ' \
        '61.0 +- 1.0 |'
    assert lines[5] == '| CONTA | 40.0 +- 1.0 (0.51) | -1.0 +- 0.0 | - |'


def test_missing_seed_is_counted_not_hidden(tmp_path):
    wd = tmp_path / 'p0.5'
    for s, v in ((0, 40.0), (1, 42.0)):
        _write(wd / f'seed{s}' / 'work_dirs' / 'c2am_r18_gen' /
               'test_metrics.json', {'mIoU': v, 'best_threshold': 0.5})
    values = bd.seed_values(str(tmp_path), 0.5, [0, 1, 2], ['c2am'])
    out = bd.summarise(values, ['c2am'], [])
    assert out['rows']['c2am']['seed_miou']['n'] == 2
    assert out['rows']['c2am']['diff_to_control'] is None  # no control run
    result = dict(settings=dict(
        context_probs=[0.5], seeds=[0, 1, 2], lr='config', forms=['c2am'],
        crf_best=2, test_scales=[1.0], fine_tuning_epochs=5, overrides=[],
        cfg_options=[]), strengths={'0.5': out})
    assert '| C2AM | 41.0 +- 1.4 [2 seeds] (0.50) | - | - |' in bd.table(
        result)


def test_options():
    args = bd.parse_args([])
    assert args.context_probs == [0.5, 0.8, 0.95]
    assert args.seeds == [0, 1, 2] and args.jobs == 2 and args.crf_best == 2
    assert args.lr == '5e-3'
    assert args.forms == ['control', 'c2am', 'c2am_spatial', 'conta',
                          'context', 'erase']
    assert args.conta_rounds == 1
    assert (args.num_train, args.num_val, args.num_aug, args.size,
            args.seed, args.max_objects) == (60, 300, 180, 64, 0, 3)
    assert len(args.classes) == 8
    # the table keeps the forms' order
    assert bd.parse_args(['--forms', 'conta', 'control']).forms == [
        'control', 'conta']
    assert bd.parse_args(['--conta-rounds', '3']).conta_rounds == 3
    for bad in (['--lr', 'fast'], ['--cfg-options', 'no_stem'],
                ['--jobs', '0'], ['--conta-rounds', '0'],
                ['--conta-rounds', '2', '--forms', 'control', 'c2am']):
        with pytest.raises(SystemExit):
            bd.parse_args(bad)
    assert bd.strength_dir('/w', 0.95) == '/w/p0.95'
    assert bd.seed_dir('/w', 0.5, 2) == '/w/p0.5/seed2'


def _fake_stages(monkeypatch, score):
    """Every stage of the engine ends at once, in-process (the engine
    writes its marker), a test stage writing its metrics (mIoU
    ``score[work dir name]``, else 60); no data. Returns the list of
    ``(name, stage)`` that started."""
    ran = []

    def start(self, stage, folder, name):
        ran.append((name, stage))
        if stage.tool == 'test':
            _write(Path(folder, stage.work, 'test_metrics.json'),
                   {'mIoU': score.get(osp.basename(stage.work), 60.0),
                    'best_threshold': 0.5})
        return EndedRun()

    monkeypatch.setattr(Engine, 'start', start)
    monkeypatch.setattr(bd.Bench, 'data', lambda self, prob: None)
    return ran


def _bench(argv):
    bench = bd.Bench(bd.parse_args(argv))
    bench.engine.poll = 0.0
    return bench


def test_schedule_runs_crf_of_the_best_forms_after_all_seeds(
        tmp_path, monkeypatch, capsys):
    """The scheduler, with every stage replaced by writing its metrics."""
    score = dict(cam_r18_gen=30.0, cam_r18_gen_ft=40.0, c2am_r18_gen=45.0,
                 conta_r18_gen=42.0)
    order = _fake_stages(monkeypatch, score)
    result = _bench([
        '--work-dir', str(tmp_path / 'w'), '--context-probs', '0.5', '0.9',
        '--seeds', '0', '1', '--forms', 'control', 'c2am', 'conta'])()
    assert len(order) == 2 * 2 * (4 + 2 * 3 + 2 * 2)
    for prob in ('0.5', '0.9'):
        names = [n.split() for n, _ in order if n.startswith(f'p{prob} ')]
        # 'p0.5 seed0 train cam_r18_gen', 'p0.5 seed0 c2am test ...'
        crf = [i for i, n in enumerate(names) if n[2] in bd.FORMS]
        seq = [i for i, n in enumerate(names) if n[2] not in bd.FORMS]
        assert len(crf) == 2 * 2 * 2 and min(crf) > max(seq)
        assert {names[i][2] for i in crf} == {'c2am', 'conta'}
        assert result['strengths'][prob]['crf_forms'] == ['c2am', 'conta']
        rows = result['strengths'][prob]['rows']
        assert rows['c2am']['diff_to_control']['mean'] == pytest.approx(5.0)
    # a sequence runs in order: the start point first
    assert [n for n, _ in order][:2] == [
        'p0.5 seed0 train cam_r18_gen', 'p0.5 seed1 train cam_r18_gen']
    assert (tmp_path / 'w' / 'p0.9' / 'seed1' / 'data').is_symlink()
    text = (tmp_path / 'w' / 'deconfounding.md').read_text()
    assert '| C2AM | 45.0 +- 0.0 (0.50) | +5.0 +- 0.0 | 60.0 +- 0.0 | ' \
        '45.0 +- 0.0 (0.50) | +5.0 +- 0.0 | 60.0 +- 0.0 |' in text
    out = capsys.readouterr().out
    assert text in out
    assert 'p0.5: all seeds done; CRF pseudo-masks of c2am, conta' in out
    saved = json.loads((tmp_path / 'w' / 'deconfounding.json').read_text())
    assert saved['settings']['lr'] == '5e-3'


def test_a_failed_stage_stops_its_sequence_only(tmp_path, monkeypatch):
    ran = _fake_stages(monkeypatch, {})
    bench = _bench(['--work-dir', str(tmp_path / 'w'), '--context-probs',
                    '0.5', '--seeds', '0', '1', '--forms', 'control'])
    fake = Engine.start

    def start(self, stage, folder, name):
        if name == 'p0.5 seed1 train cam_r18_gen_ft':
            ran.append((name, stage))
            return EndedRun(2, 'LOG')
        return fake(self, stage, folder, name)

    monkeypatch.setattr(Engine, 'start', start)
    with pytest.raises(SystemExit, match=r'^\[deconf\] stage p0.5 seed1 '
                       r'train cam_r18_gen_ft failed \(exit 2\); see LOG'):
        bench()
    names = [n for n, _ in ran]
    assert 'p0.5 seed0 test cam_r18_gen_ft' in names  # the other seed ran
    assert 'p0.5 seed1 test cam_r18_gen_ft' not in names
    assert not [n for n in names if n.split()[2] in bd.FORMS]  # no CRF
    # the table of what ran is written
    assert (tmp_path / 'w' / 'deconfounding.md').exists()


def test_erase_form_uses_the_start_points_crf_masks():
    stages = bd.sequence(0, ['control', 'erase'], '5e-3')
    crf = stages[3]
    assert crf.config == bd.CRF
    train, test = stages[-2:]
    assert (train.tool, train.config, test.tool) == (
        'train', 'cam_r18_gen_erase.py', 'test')
    cfg = _merged(train.config, train.opts)
    pipe = cfg.train_dataloader.dataset.pipeline
    assert pipe[0].type == 'LoadImageFromFile'
    assert pipe[1].type == 'EraseObjects'
    # the masks the CRF stage (before it) writes, relative to the seed folder
    assert pipe[1].mask_dir == osp.join(crf.work_dir, 'masks') == \
        osp.join(work_dir_of(bd.CRF), 'masks')
    assert _cfg(bd.CRF).default_hooks.mask_file.get('out_dir') is None
    # nothing to match: C2AM's test scales and epochs already
    assert bd.matching('cam_r18_gen_erase.py') == ((), (), ())
    assert _opt(train, 'optim_wrapper.optimizer.lr') == [
        'optim_wrapper.optimizer.lr=5e-3']
    assert bd.expected(train) == bd.EXPECTED[('train', 'cam_r18_gen_erase')]


def test_conta_rounds_stages():
    forms = list(bd.FORMS)
    base = bd.sequence(1, forms, '5e-3')
    stages = bd.sequence(1, forms, '5e-3', conta_rounds=3)
    assert stages[:len(base)] == base  # the rounds come after the forms
    rounds = stages[len(base):]
    assert [(s.tool, s.config, s.work_dir, s.ckpt_of) for s in rounds] == [
        ('test', 'conta_r18_gen.py', 'work_dirs/conta_trainaug',
         'work_dirs/conta_r18_gen'),
        ('test', 'crf_gen_cam.py', 'work_dirs/pseudo_mask_conta',
         None),
        ('train', 'conta_r18_gen.py', 'work_dirs/conta_round2', None),
        ('test', 'conta_r18_gen.py', 'work_dirs/conta_round2',
         'work_dirs/conta_round2'),
        ('test', 'conta_r18_gen.py', 'work_dirs/conta_round2_trainaug',
         'work_dirs/conta_round2'),
        ('test', 'crf_gen_cam.py',
         'work_dirs/pseudo_mask_conta_round2', None),
        ('train', 'conta_r18_gen.py', 'work_dirs/conta_round3', None),
        ('test', 'conta_r18_gen.py', 'work_dirs/conta_round3',
         'work_dirs/conta_round3'),
    ]
    # round 2's input is exactly the CRF phase's stages of conta (one
    # marker: whichever runs first, the other is skipped)
    assert rounds[:2] == bd.crf_stages(1, 'conta')
    # round 3's CAM files and masks: round 2's classifier and seed sweep
    _crf_inputs(rounds[5], 'work_dirs/conta_round2_trainaug/cams',
                'work_dirs/pseudo_mask_conta_round2/masks',
                'work_dirs/conta_round2/test_metrics.json')
    cams = _merged('conta_r18_gen.py', rounds[4].opts)
    assert cams.default_hooks.cam_file.type == 'CAMFileHook'
    assert 'randomness.seed=1' in rounds[4].opts
    # each round: the confounder set from the previous round's masks, the
    # same start point, lr, epochs and test scales as round 1
    round1_train, round1_test = [s for s in base
                                 if s.config == 'conta_r18_gen.py']
    r1 = _merged('conta_r18_gen.py', round1_train.opts)
    for train, test, masks in ((rounds[2], rounds[3], rounds[1]),
                               (rounds[6], rounds[7], rounds[5])):
        opt = _opt(train, 'custom_hooks.0.mask_dir')
        assert opt == [f'custom_hooks.0.mask_dir={masks.work_dir}/masks']
        assert [o for o in train.opts if o not in opt] == \
            list(round1_train.opts)
        cfg = _merged('conta_r18_gen.py', train.opts)
        hook, = cfg.custom_hooks
        assert hook.type == 'ConfounderSetHook'
        assert hook.mask_dir == f'{masks.work_dir}/masks'
        assert cfg.load_from == r1.load_from == 'work_dirs/cam_r18_gen/' \
            'epoch_15.pth'
        assert cfg.optim_wrapper == r1.optim_wrapper
        assert cfg.train_cfg.max_epochs == 5
        assert test.opts == round1_test.opts
    # every input is made by an earlier stage; every marker is its own
    made = set()
    for s in stages:
        if s.ckpt_of:
            assert s.ckpt_of in made, s
        for o in s.opts:
            if o.startswith('custom_hooks.0.mask_dir='):
                assert o.split('=', 1)[1][:-len('/masks')] in made, s
        made.add(s.work_dir)
    markers = [s.marker for s in stages]
    assert len(set(markers)) == len(markers)
    # the time estimate counts them
    assert [bd.expected(s) for s in rounds[4:6]] == [
        bd.EXPECTED[('trainaug', '*')], bd.EXPECTED[('crf', '*')]]
    assert bd.expected(rounds[6]) == bd.EXPECTED[('train', 'conta_r18_gen')]
    with pytest.raises(ValueError, match='conta'):
        bd.sequence(0, ['control'], '5e-3', conta_rounds=2)


def test_table_rows_of_conta_rounds(tmp_path):
    forms = ['control', 'conta', 'erase']
    seeds = [0, 1]
    seed_miou = {'cam_r18_gen': 30.0, 'cam_r18_gen_ft': 40.0,
                 'conta_r18_gen': 41.0, 'conta_round2': 43.0,
                 'conta_round3': 44.0, 'cam_r18_gen_erase': 47.0}
    for s in seeds:
        wd = tmp_path / 'p0.8' / f'seed{s}' / 'work_dirs'
        for d, v in seed_miou.items():
            _write(wd / d / 'test_metrics.json',
                   {'mIoU': v + s, 'best_threshold': 0.5})
        for d, v in (('crf_gen_cam', 50.0),
                     ('pseudo_mask_conta', 52.0),
                     ('pseudo_mask_conta_round2', 53.0)):
            _write(wd / d / 'test_metrics.json', {'mIoU': v})
    assert bd.table_rows(forms, 3) == [
        'start', 'control', 'conta', 'conta_round2', 'conta_round3', 'erase']
    values = bd.seed_values(str(tmp_path), 0.8, seeds, forms, 3)
    assert values['conta_round2'][1] == dict(
        seed_miou=44.0, best_threshold=0.5, crf_miou=53.0)
    best = bd.best_forms(values, forms, 1)
    assert best == ['erase']  # the forms only, never a round
    out = bd.summarise(values, forms, best, 3)
    rows = out['rows']
    assert rows['conta_round3']['diff_to_control']['mean'] == \
        pytest.approx(4.0)
    result = dict(settings=dict(
        context_probs=[0.8], seeds=seeds, lr='5e-3', forms=forms,
        conta_rounds=3, crf_best=1, test_scales=[1.0], fine_tuning_epochs=5,
        overrides=[], cfg_options=[]), strengths={'0.8': out})
    lines = bd.table(result).splitlines()
    assert lines[3:8] == [
        '| control (plain fine-tuning) | 40.5 +- 0.7 (0.50) | - | - |',
        '| CONTA | 41.5 +- 0.7 (0.50) | +1.0 +- 0.0 | 52.0 +- 0.0 |',
        '| CONTA round 2 | 43.5 +- 0.7 (0.50) | +3.0 +- 0.0 | 53.0 +- 0.0 |',
        '| CONTA round 3 | 44.5 +- 0.7 (0.50) | +4.0 +- 0.0 | - |',
        '| erase (context-only negatives) | 47.5 +- 0.7 (0.50) | +7.0 +- '
        '0.0 | - |']
    assert any(line.startswith('CONTA round k (2..3)') for line in lines)
    # one round: no CRF column for conta unless it is among the best
    one = bd.summarise(bd.seed_values(str(tmp_path), 0.8, seeds, forms),
                       forms, best)
    assert list(one['rows']) == ['start', 'control', 'conta', 'erase']
    assert one['rows']['conta']['crf_miou'] is None


def test_schedule_with_conta_rounds_skips_the_repeated_crf_stages(
        tmp_path, monkeypatch):
    """Markers as the engine writes them: conta's CRF stages run once, in
    round 2, even when conta is one of the best forms."""
    score = dict(cam_r18_gen=30.0, cam_r18_gen_ft=40.0, conta_r18_gen=42.0,
                 conta_round2=44.0)
    ran = _fake_stages(monkeypatch, score)
    result = _bench([
        '--work-dir', str(tmp_path / 'w'), '--context-probs', '0.5',
        '--seeds', '0', '--forms', 'control', 'conta', '--conta-rounds', '2',
        '--crf-best', '1'])()
    assert len(ran) == 4 + 2 * 2 + 4  # start, forms, round 2
    rows = result['strengths']['0.5']['rows']
    assert result['strengths']['0.5']['crf_forms'] == ['conta']
    assert rows['conta_round2']['diff_to_control']['mean'] == \
        pytest.approx(4.0)
    assert rows['conta']['crf_miou']['mean'] == pytest.approx(60.0)
    saved = json.loads((tmp_path / 'w' / 'deconfounding.json').read_text())
    assert saved['settings']['conta_rounds'] == 2
    assert 'conta_round2' in saved['strengths']['0.5']['rows']
    text = (tmp_path / 'w' / 'deconfounding.md').read_text()
    assert '| CONTA round 2 | 44.0 (0.50) | +4.0 | - |' in text


# issue 26: the data interventions, their oracle, their rounds, the spill

INTERVENTION_CONFIGS = {
    'erase': ('cam_r18_gen_erase.py', ['EraseObjects']),
    'paste': ('cam_r18_gen_paste.py', ['PasteObjects']),
    'erase_paste': ('cam_r18_gen_erase_paste.py',
                    ['EraseObjects', 'PasteObjects']),
}


def _readers(cfg):
    """The (type, mask_dir) of the mask-reading transforms of a config."""
    return [(t.type, t.mask_dir) for t in cfg.train_dataloader.dataset.pipeline
            if t.type in ('EraseObjects', 'PasteObjects')]


def test_intervention_forms_read_the_start_points_crf_masks():
    # wood: erase's pipeline plus W-OoD (test_wood_form_reads_erase_masks)
    assert set(bd.INTERVENTIONS) == {*INTERVENTION_CONFIGS, 'wood'}
    assert bd.parse_args([]).forms == bd.DEFAULT_FORMS  # issue 17's six
    crf_masks = osp.join(work_dir_of(bd.CRF), 'masks')
    for form, (config, types) in INTERVENTION_CONFIGS.items():
        assert bd.FORMS[form][0] == config
        cfg = _cfg(config)
        # right after LoadImageFromFile, erase before paste
        assert [t.type for t in cfg.train_dataloader.dataset.pipeline][
            :1 + len(types)] == ['LoadImageFromFile'] + types
        assert _readers(cfg) == [(t, crf_masks) for t in types]
        assert bd.mask_keys(config) == tuple(
            f'train_dataloader.dataset.pipeline.{i}.mask_dir'
            for i in range(1, 1 + len(types)))
        # the control's lr, epochs, start point and test: nothing to match
        assert bd.matching(config) == ((), (), ())
        assert cfg.load_from == _cfg('cam_r18_gen_ft.py').load_from
    # the forms without a mask-reading transform: CONTA's hook only
    assert bd.mask_keys(bd.CONTA) == ('custom_hooks.0.mask_dir', )
    for form in ('control', 'c2am', 'c2am_spatial', 'context'):
        assert bd.mask_keys(bd.FORMS[form][0]) == ()
    # the new forms' train and test stages, as every form's
    stages = bd.sequence(0, ['control', 'paste', 'erase_paste'], '5e-3')
    assert [(s.tool, s.config, s.work_dir) for s in stages[4:]] == [
        ('train', 'cam_r18_gen_ft.py', 'work_dirs/cam_r18_gen_ft'),
        ('test', 'cam_r18_gen_ft.py', 'work_dirs/cam_r18_gen_ft'),
        ('train', 'cam_r18_gen_paste.py', 'work_dirs/cam_r18_gen_paste'),
        ('test', 'cam_r18_gen_paste.py', 'work_dirs/cam_r18_gen_paste'),
        ('train', 'cam_r18_gen_erase_paste.py',
         'work_dirs/cam_r18_gen_erase_paste'),
        ('test', 'cam_r18_gen_erase_paste.py',
         'work_dirs/cam_r18_gen_erase_paste')]
    assert stages[7].ckpt_of == stages[6].work_dir
    assert [bd.expected(s) for s in stages[6::2]] == [
        bd.EXPECTED[('train', 'cam_r18_gen_paste')],
        bd.EXPECTED[('train', 'cam_r18_gen_erase_paste')]]


def test_wood_form_reads_erase_masks():
    """W-OoD (issue 26): an intervention form whose only mask reader is the
    EraseObjects of its pipeline (its centres' hook reads no masks), so
    --oracle and --intervention-rounds point that transform at their
    masks."""
    config = 'cam_r18_gen_wood.py'
    assert bd.FORMS['wood'][0] == config and 'wood' in bd.INTERVENTIONS
    assert 'wood' in bd.parse_args(['--forms', 'control', 'wood']).forms
    cfg = _cfg(config)
    crf_masks = osp.join(work_dir_of(bd.CRF), 'masks')
    assert _readers(cfg) == [('EraseObjects', crf_masks)]
    assert cfg.train_dataloader.dataset.pipeline[1].type == 'EraseObjects'
    assert [h.type for h in cfg.custom_hooks] == ['WOoDCentresHook']
    assert bd.mask_keys(config) == (
        'train_dataloader.dataset.pipeline.1.mask_dir', )
    assert bd.matching(config) == ((), (), ())
    assert cfg.load_from == _cfg('cam_r18_gen_ft.py').load_from
    stages = bd.sequence(0, ['control', 'wood'], '5e-3', oracle=True,
                         intervention_rounds=2)
    gt = bd.GT_MASKS
    oracle = [s for s in stages if s.work_dir ==
              'work_dirs/cam_r18_gen_wood_oracle' and s.tool == 'train']
    assert len(oracle) == 1
    assert _readers(_merged(config, oracle[0].opts)) == [
        ('EraseObjects', gt)]
    round2 = [s for s in stages if s.work_dir == 'work_dirs/wood_round2'
              and s.tool == 'train']
    assert len(round2) == 1
    assert _readers(_merged(config, round2[0].opts)) == [
        ('EraseObjects', 'work_dirs/pseudo_mask_wood/masks')]
    assert [bd.row_label(r) for r in ('wood', 'wood_oracle', 'wood_round2')
            ] == ['erase + W-OoD (hardening, distance loss)',
                  'erase + W-OoD (oracle)', 'erase + W-OoD round 2']
    assert bd.expected(round2[0]) == bd.EXPECTED[('train',
                                                  'cam_r18_gen_wood')]


def test_oracle_points_every_intervention_at_the_ground_truth(tmp_path):
    forms = ['control', 'erase', 'paste', 'erase_paste']
    base = bd.sequence(1, forms, '5e-3')
    stages = bd.sequence(1, forms, '5e-3', oracle=True)
    assert stages[:len(base)] == base  # the oracle rows come after
    extra = stages[len(base):]
    assert len(extra) == 2 * 3
    gt = 'data/gen_voc/VOC2012/SegmentationClassAug'
    assert bd.GT_MASKS == gt
    for (form, (config, types)), train, test in zip(
            INTERVENTION_CONFIGS.items(), extra[::2], extra[1::2]):
        work = f'work_dirs/{config[:-3]}_oracle'
        assert (train.tool, train.config, train.work_dir) == (
            'train', config, work)
        assert (test.tool, test.config, test.work_dir, test.ckpt_of) == (
            'test', config, work, work)
        # the form's own options, then every mask reader on the truth
        own = [s for s in base if s.config == config]
        assert train.opts[:len(own[0].opts)] == own[0].opts
        assert train.opts[len(own[0].opts):] == tuple(
            f'{k}={gt}' for k in bd.mask_keys(config))
        assert test.opts == own[1].opts
        cfg = _merged(config, train.opts)
        assert _readers(cfg) == [(t, gt) for t in types]
        # the bank stays train_aug's (no val image from the truth)
        for t in cfg.train_dataloader.dataset.pipeline:
            if t.type == 'PasteObjects':
                assert t.ann_file.endswith('trainaug.txt')
        assert bd.row_work_dir(bd.oracle_name(form)) == work
        assert bd.row_dirs(f'{form}_oracle') == (
            osp.basename(work), f'pseudo_mask_{form}_oracle')
        assert bd.row_label(f'{form}_oracle').endswith(' (oracle)')
    markers = [s.marker for s in stages]
    assert len(set(markers)) == len(markers)
    # a CRF chain of an oracle row reads its classifier and seed sweep
    cams, masks = bd.crf_stages(1, 'paste_oracle')
    assert (cams.config, cams.ckpt_of, cams.work_dir) == (
        'cam_r18_gen_paste.py', 'work_dirs/cam_r18_gen_paste_oracle',
        'work_dirs/paste_oracle_trainaug')
    _crf_inputs(masks, 'work_dirs/paste_oracle_trainaug/cams',
                'work_dirs/pseudo_mask_paste_oracle/masks',
                'work_dirs/cam_r18_gen_paste_oracle/test_metrics.json')
    assert bd.trained_rows(forms, True) == forms + [
        'erase_oracle', 'paste_oracle', 'erase_paste_oracle']
    with pytest.raises(ValueError, match='intervention'):
        bd.form_stages(0, 'control', '5e-3', oracle=True)
    # the paths are the generator's layout, relative to a seed folder whose
    # data is the strength's data
    from mmc2am.evaluation.metrics.context_spill_metric import read_contexts
    from mmc2am.testing import generate_voc_dataset
    generate_voc_dataset(str(tmp_path / bd.DATA), num_train=3, num_val=1,
                         num_aug=2, classes=['cat', 'sheep'])
    ids = (tmp_path / bd.DATA / 'ImageSets' / 'Segmentation' /
           'trainaug.txt').read_text().split()
    assert len(ids) == 5
    for i in ids:
        assert (tmp_path / gt / f'{i}.png').is_file()
        assert (tmp_path / 'data/gen_voc/VOC2012/JPEGImages' /
                f'{i}.jpg').is_file()
    assert set(ids) <= set(read_contexts(str(tmp_path / bd.META)))
    assert _cfg('cam_r18_gen_paste.py').train_dataloader.dataset \
        .data_root == bd.DATA


def test_intervention_rounds_feed_the_next_rounds_masks():
    forms = ['control', 'erase', 'paste', 'erase_paste']
    base = bd.sequence(2, forms, '5e-3')
    stages = bd.sequence(2, forms, '5e-3', intervention_rounds=3)
    assert stages[:len(base)] == base  # the rounds come after the forms
    rounds = stages[len(base):]
    assert len(rounds) == 3 * 2 * 4
    for i, form in enumerate(INTERVENTION_CONFIGS):
        config = bd.FORMS[form][0]
        own = rounds[8 * i:8 * (i + 1)]
        assert [(s.tool, s.config, s.work_dir, s.ckpt_of) for s in own] == [
            ('test', config, f'work_dirs/{form}_trainaug',
             work_dir_of(config)),
            ('test', 'crf_gen_cam.py', f'work_dirs/pseudo_mask_{form}',
             None),
            ('train', config, f'work_dirs/{form}_round2', None),
            ('test', config, f'work_dirs/{form}_round2',
             f'work_dirs/{form}_round2'),
            ('test', config, f'work_dirs/{form}_round2_trainaug',
             f'work_dirs/{form}_round2'),
            ('test', 'crf_gen_cam.py',
             f'work_dirs/pseudo_mask_{form}_round2', None),
            ('train', config, f'work_dirs/{form}_round3', None),
            ('test', config, f'work_dirs/{form}_round3',
             f'work_dirs/{form}_round3')]
        # round 2's input is the CRF phase's chain of the form (one marker)
        assert own[:2] == bd.crf_stages(2, form)
        _crf_inputs(own[5], f'work_dirs/{form}_round2_trainaug/cams',
                    f'work_dirs/pseudo_mask_{form}_round2/masks',
                    f'work_dirs/{form}_round2/test_metrics.json')
        round1_train, round1_test = [s for s in base if s.config == config]
        for train, test, masks in ((own[2], own[3], own[1]),
                                   (own[6], own[7], own[5])):
            # every mask reader (erase masks and paste bank) on the
            # previous round's masks; round 1's options otherwise
            opts = tuple(f'{k}={masks.work_dir}/masks'
                         for k in bd.mask_keys(config))
            assert train.opts == round1_train.opts + opts
            assert _readers(_merged(config, train.opts)) == [
                (t, f'{masks.work_dir}/masks')
                for t in INTERVENTION_CONFIGS[form][1]]
            assert test.opts == round1_test.opts
    # every input is made by an earlier stage; every marker is its own
    made = set()
    for s in stages:
        if s.ckpt_of:
            assert s.ckpt_of in made, s
        for o in s.opts:
            if '.mask_dir=work_dirs/' in o:
                assert o.split('=', 1)[1][:-len('/masks')] in made, s
        made.add(s.work_dir)
    markers = [s.marker for s in stages]
    assert len(set(markers)) == len(markers)
    assert bd.table_rows(forms, 1, 3, True) == [
        'start', 'control', 'erase', 'erase_round2', 'erase_round3',
        'erase_oracle', 'paste', 'paste_round2', 'paste_round3',
        'paste_oracle', 'erase_paste', 'erase_paste_round2',
        'erase_paste_round3', 'erase_paste_oracle']
    assert [bd.row_label(r) for r in ('erase_round2', 'paste_oracle',
                                      'erase_paste_round3', 'conta_round2')
            ] == ['erase round 2', 'paste (oracle)', 'erase + paste round 3',
                  'CONTA round 2']
    assert bd.parse_row('erase_paste_round2') == ('erase_paste', 2, False)
    with pytest.raises(ValueError, match='intervention'):
        bd.sequence(0, ['control', 'conta'], '5e-3', intervention_rounds=2)
    with pytest.raises(ValueError, match='reads no masks'):
        bd.round_stages(0, 'control', 2, '5e-3')


def test_seed_tests_measure_the_spill(tmp_path):
    """The seed tests run a copy of their config with ContextSpillMetric
    beside SeedMetric, of the same stem: the same marker, work dir and
    --cfg-options of the stem."""
    bench = bd.Bench(bd.parse_args(['--work-dir', str(tmp_path / 'w'),
                                    '--spill-thr', '0.4']))
    forms = ['control', 'conta', 'paste']
    plain = bd.sequence(0, forms, '5e-3', conta_rounds=2, oracle=True,
                        intervention_rounds=2)
    spill = bd.sequence(0, forms, '5e-3', conta_rounds=2, oracle=True,
                        intervention_rounds=2,
                        test_config=bench.test_config)
    assert len(spill) == len(plain)
    n = 0
    for a, b in zip(plain, spill):
        assert a._replace(config='') == b._replace(config='')
        assert (a.stem, a.marker, a.name) == (b.stem, b.marker, b.name)
        seed_test = a.tool == 'test' and a.ckpt_of == a.work_dir
        if not seed_test:  # training, CAM files, CRF: unchanged
            assert a.config == b.config
            continue
        n += 1
        assert b.config == str(tmp_path / 'w' / 'spill_configs' /
                               f'{a.stem}.py')
        cfg = Config.fromfile(b.config)
        assert cfg.test_evaluator == [
            _cfg(a.config).test_evaluator,
            dict(type='ContextSpillMetric', thr=0.4,
                 meta_file='data/gen_voc/VOC2012/meta.json')]
        ref = _cfg(a.config)
        cfg.pop('test_evaluator'), ref.pop('test_evaluator')
        assert cfg.to_dict() == ref.to_dict()
        # the command: the copy, the checkpoint, the stem's options
        ckpt = tmp_path / b.ckpt_of / 'last_checkpoint'
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        ckpt.write_text('/c.pth')
        cmd = Engine(cfg_options=[f'{a.stem}:x=1']).command(b, str(tmp_path))
        assert cmd[2:4] == [b.config, '/c.pth']
        assert cmd[cmd.index('--work-dir') + 1] == a.work_dir
        assert cmd[cmd.index('--cfg-options') + 1:] == [*a.opts, 'x=1']
    # start, control, conta, paste, paste oracle, CONTA and paste round 2
    assert n == 7
    from mmc2am.registry import METRICS
    assert METRICS.get('ContextSpillMetric') is not None


def _spill_metrics(tmp_path, rows, seeds):
    for s in seeds:
        wd = tmp_path / 'p0.8' / f'seed{s}' / 'work_dirs'
        for d, (miou, spill, ctx) in rows.items():
            m = {'mIoU': miou + s, 'best_threshold': 0.5}
            if spill is not None:
                m.update(spill=spill + s, context_spill=ctx)
            _write(wd / d / 'test_metrics.json', m)
        _write(wd / 'crf_gen_cam' / 'test_metrics.json', {'mIoU': 50.0})
        _write(wd / 'pseudo_mask_paste' / 'test_metrics.json',
               {'mIoU': 60.0})
        _write(wd / 'pseudo_mask_paste_oracle' / 'test_metrics.json',
               {'mIoU': 66.0})


def test_table_with_spill_oracle_and_rounds(tmp_path):
    forms = ['control', 'paste']
    seeds = [0, 1]
    _spill_metrics(tmp_path, {
        'cam_r18_gen': (30.0, 80.0, 50.0),
        'cam_r18_gen_ft': (40.0, 70.0, 40.0),
        'cam_r18_gen_paste': (42.0, 60.0, 30.0),
        'paste_round2': (43.0, 55.0, 28.0),
        'cam_r18_gen_paste_oracle': (45.0, 50.0, 20.0)}, seeds)
    values = bd.seed_values(str(tmp_path), 0.8, seeds, forms, 1, 2, True)
    assert values['paste_oracle'][1] == dict(
        seed_miou=46.0, best_threshold=0.5, crf_miou=66.0, spill=51.0,
        context_spill=20.0)
    assert bd.best_forms(values, bd.trained_rows(forms, True), 1) == [
        'paste_oracle']
    out = bd.summarise(values, forms, ['paste_oracle'], 1, 2, True)
    rows = out['rows']
    assert list(rows) == ['start', 'control', 'paste', 'paste_round2',
                          'paste_oracle']
    assert rows['paste']['spill']['mean'] == pytest.approx(60.5)
    assert rows['paste']['context_spill']['mean'] == pytest.approx(30.0)
    # a round's masks feed the next: CRF of the form and its rounds
    assert rows['paste']['crf_miou']['mean'] == pytest.approx(60.0)
    assert rows['paste_oracle']['crf_miou']['mean'] == pytest.approx(66.0)
    assert rows['control']['crf_miou'] is None
    result = dict(settings=dict(
        context_probs=[0.8], seeds=seeds, lr='5e-3', forms=forms,
        conta_rounds=1, intervention_rounds=2, oracle=True, spill_thr=0.5,
        crf_best=1, test_scales=[1.0], fine_tuning_epochs=5, overrides=[],
        cfg_options=[]), strengths={'0.8': out})
    lines = bd.table(result).splitlines()
    assert lines[0] == ('| form | p=0.8: seed mIoU (t*) | p=0.8: spill | '
                        'p=0.8: context spill | p=0.8: vs control | '
                        'p=0.8: CRF mIoU |')
    assert lines[2:7] == [
        '| start (plain CAM, 15 epochs, its own 4 test scales) | 30.5 +- '
        '0.7 (0.50) | 80.5 +- 0.7 | 50.0 +- 0.0 | -10.0 +- 0.0 | 50.0 +- '
        '0.0 |',
        '| control (plain fine-tuning) | 40.5 +- 0.7 (0.50) | 70.5 +- 0.7 | '
        '40.0 +- 0.0 | - | - |',
        '| paste (pasted objects) | 42.5 +- 0.7 (0.50) | 60.5 +- 0.7 | 30.0 '
        '+- 0.0 | +2.0 +- 0.0 | 60.0 +- 0.0 |',
        '| paste round 2 | 43.5 +- 0.7 (0.50) | 55.5 +- 0.7 | 28.0 +- 0.0 | '
        '+3.0 +- 0.0 | - |',
        '| paste (oracle) | 45.5 +- 0.7 (0.50) | 50.5 +- 0.7 | 20.0 +- 0.0 '
        '| +5.0 +- 0.0 | 66.0 +- 0.0 |']
    text = '\n'.join(lines)
    assert 'CAM mass above 0.5 (the same for every row)' in text
    assert '<form> round k (2..2)' in text and '(oracle): ' in text
    # an earlier run's metrics without the spill: no spill columns
    _spill_metrics(tmp_path, {'cam_r18_gen': (30.0, None, None),
                              'cam_r18_gen_ft': (40.0, None, None)}, seeds)
    values = bd.seed_values(str(tmp_path), 0.8, seeds, ['control'])
    assert values['control'][0] == dict(seed_miou=40.0, best_threshold=0.5,
                                        crf_miou=None)
    result['strengths']['0.8'] = bd.summarise(values, ['control'], [])
    result['settings'].update(forms=['control'], intervention_rounds=1,
                              oracle=False)
    assert 'spill' not in bd.table(result).splitlines()[0]


def test_new_options():
    args = bd.parse_args([])
    assert (args.intervention_rounds, args.oracle, args.spill_thr) == (
        1, False, 0.5)
    args = bd.parse_args(['--forms', 'paste', 'control', 'erase_paste',
                          '--oracle', '--intervention-rounds', '2'])
    assert args.forms == ['control', 'paste', 'erase_paste']
    assert args.oracle and args.intervention_rounds == 2
    for bad in (['--oracle', '--forms', 'control', 'c2am'],
                ['--intervention-rounds', '2', '--forms', 'conta'],
                ['--forms', 'paste', '--intervention-rounds', '0'],
                ['--spill-thr', '1.0']):
        with pytest.raises(SystemExit):
            bd.parse_args(bad)


def test_schedule_of_the_interventions_with_oracle_and_rounds(
        tmp_path, monkeypatch):
    """The scheduler with fake stages that write the seed tests' spill:
    oracle rows compete for the CRF phase; the rounds' CRF chains that the
    CRF phase repeats run once."""
    score = dict(cam_r18_gen=30.0, cam_r18_gen_ft=40.0,
                 cam_r18_gen_paste=42.0, cam_r18_gen_paste_oracle=47.0,
                 paste_round2=44.0)
    ran = []

    def start(self, stage, folder, name):
        ran.append((name, stage))
        if stage.tool == 'test':
            metrics = {'mIoU': score.get(osp.basename(stage.work), 60.0),
                       'best_threshold': 0.5}
            if 'spill_configs' in stage.config:
                metrics.update(spill=33.0, context_spill=11.0)
            _write(Path(folder, stage.work, 'test_metrics.json'), metrics)
        return EndedRun()

    monkeypatch.setattr(Engine, 'start', start)
    monkeypatch.setattr(bd.Bench, 'data', lambda self, prob: None)
    result = _bench([
        '--work-dir', str(tmp_path / 'w'), '--context-probs', '0.8',
        '--seeds', '0', '--forms', 'control', 'paste', '--oracle',
        '--intervention-rounds', '2', '--crf-best', '2'])()
    # start, control, paste, paste oracle, paste's round 2 (its input
    # chain included), then the CRF of paste_oracle (paste's: done)
    assert len(ran) == 4 + 2 * 3 + 4 + 2
    st = result['strengths']['0.8']
    assert st['crf_forms'] == ['paste_oracle', 'paste']
    assert [n for n, _ in ran][-2:] == [
        'p0.8 seed0 paste_oracle test cam_r18_gen_paste -> '
        'paste_oracle_trainaug',
        'p0.8 seed0 paste_oracle test crf_gen_cam -> pseudo_mask_paste_oracle']
    assert st['rows']['paste_oracle']['diff_to_control']['mean'] == \
        pytest.approx(7.0)
    assert st['rows']['paste_round2']['spill']['mean'] == pytest.approx(33.0)
    saved = json.loads((tmp_path / 'w' / 'deconfounding.json').read_text())
    assert saved['settings']['oracle'] is True
    assert saved['settings']['intervention_rounds'] == 2
    text = (tmp_path / 'w' / 'deconfounding.md').read_text()
    assert '| paste (oracle) | 47.0 (0.50) | 33.0 | 11.0 | +7.0 | 60.0 |' \
        in text
    assert '| paste round 2 | 44.0 (0.50) | 33.0 | 11.0 | +4.0 | - |' in text
