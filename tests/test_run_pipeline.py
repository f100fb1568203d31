"""tools/run_pipeline.py is a list of (tool, config) stages whose default
folders chain, with no setting of its own."""
import importlib.util
import os.path as osp
import re

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'configs', 'c2am')


def _pipeline():
    spec = importlib.util.spec_from_file_location(
        'run_pipeline', osp.join(REPO, 'tools', 'run_pipeline.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rp = _pipeline()


def _cfg(name):
    return Config.fromfile(osp.join(CONFIGS, name))


@pytest.mark.parametrize('preset', ['gen', 'voc'])
@pytest.mark.parametrize('method', ['cam', 'c2am', 'c2am_spatial'])
@pytest.mark.parametrize('refine', ['crf', 'irn'])
def test_stages_chain_through_default_folders(preset, method, refine):
    stages = rp.stages(preset, method, refine)
    trained = []
    for s in stages:
        assert osp.isfile(osp.join(CONFIGS, s.config)), s.config
        if s.ckpt_of is not None:  # a test of an earlier training
            assert s.ckpt_of in trained, s
        if s.tool == 'train':
            trained.append(s.work_dir or rp.work_dir_of(s.config))
        # only folders are passed, never a setting
        for opt in s.opts:
            assert re.fullmatch(r'[\w.]+_dir=work_dirs/[\w/]+', opt), opt
    cls, cams, crf, irn = rp.PRESETS[preset][method]
    names = [s.config for s in stages]
    assert names[:4] == [cls, cls, cams, crf]
    cam_dir = osp.join(rp.work_dir_of(cams), 'cams')
    crf_masks = osp.join(rp.work_dir_of(crf), 'masks')
    crf_cfg = _cfg(crf)
    crf_data = crf_cfg.test_dataloader.dataset
    assert (crf_data.cam_dir, crf_data.out_dir) == (cam_dir, crf_masks)
    rule = crf_cfg.model.get('thresholds_from_seeds')
    if preset == 'gen':  # thresholds from this method's seed stage
        seeds = stages[1]
        assert (seeds.config, seeds.tool) == (cls, 'test')
        assert rule.metrics == osp.join(
            seeds.work_dir or rp.work_dir_of(cls), 'test_metrics.json')
    else:  # the reference's constants
        assert rule is None
    # the CAM files come from the method's classifier and its test mode
    assert _cfg(cams).default_hooks.cam_file.type == 'CAMFileHook'
    assert _cfg(cams).model == _cfg(cls).model
    masks = crf_masks
    if refine == 'irn':
        assert irn in names
        irn_cfg = _cfg(irn)
        assert irn_cfg.train_dataloader.dataset.label_dir == crf_masks
        assert irn_cfg.test_dataloader.dataset.cam_dir == cam_dir
        masks = irn_cfg.test_dataloader.dataset.out_dir
        assert masks == osp.join(rp.work_dir_of(irn), 'masks')
    else:
        assert irn not in names
    seg_train = stages[-2]
    assert seg_train.opts == (f'train_dataloader.dataset.mask_dir={masks}', )
    if method != 'cam':  # fine-tunes the plain-CAM classifier
        start = _cfg(cls).load_from
        cam_cls = _cfg(rp.PRESETS[preset]['cam'][0])
        assert start == osp.join(
            rp.work_dir_of(rp.PRESETS[preset]['cam'][0]),
            f'epoch_{cam_cls.train_cfg.max_epochs}.pth')


def test_seeds_only_change_the_classifier_stages():
    default = rp.stages('gen', 'c2am', 'irn')
    seeded = rp.stages('gen', 'c2am', 'irn', seed=2)
    assert [s._replace(opts=()) for s in seeded] == \
        [s._replace(opts=()) for s in default]
    for s, d in zip(seeded, default):
        extra = set(s.opts) - set(d.opts)
        assert extra == ({'randomness.seed=2'} if s.config in
                         rp.PRESETS['gen']['c2am'][:2] else set()), s


def test_mean_std_table():
    runs = [dict(cam=dict(seed_miou=v, seed_threshold=0.5,
                          pseudo_crf_miou=v + 10, pseudo_irn_miou=None,
                          seg_val_miou=v + 5)) for v in (40.0, 42.0, 44.0)]
    rows = rp.mean_std(runs)
    assert rows['cam']['seed_miou'] == [42.0, 2.0]
    assert rows['cam']['pseudo_irn_miou'] is None
    text = rp.table(rows, 'crf', runs=3)
    assert '| CAM | 42.0 +- 2.0 | 0.50 +- 0.00 | 52.0 +- 2.0 | - | ' \
        '47.0 +- 2.0 |' in text


def test_data_of_other_options_is_refused(tmp_path):
    import json
    args = rp.parse_args(['--work-dir', str(tmp_path)])
    pipe = rp.Pipeline(args)
    meta = tmp_path / rp.PRESETS['gen']['data'] / 'meta.json'
    meta.parent.mkdir(parents=True)
    want = pipe.generator_options()
    meta.write_text(json.dumps(dict(
        want, format_version=2, drawn_classes=want['drawn_classes'][::-1])))
    pipe.data()  # the same options (classes in any order): reused
    meta.write_text(json.dumps(dict(want, format_version=2,
                                    context_prob=0.8)))
    with pytest.raises(SystemExit, match='context_prob'):
        pipe.data()


def test_method_settings_live_in_the_configs():
    import ast
    with open(osp.join(REPO, 'tools', 'run_pipeline.py')) as f:
        tree = ast.parse(f.read())
    doc = tree.body[0].value.value  # the module docstring, as written
    consts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    # floats: the data generator's --context-prob default, the poll
    # interval of the stage scheduler and zeros
    assert {c for c in consts if isinstance(c, float)} <= {0.5, 0.2, 0.0}
    for c in consts:
        if isinstance(c, str) and c != doc:
            for setting in ('t_fg', 't_bg', 'bg_thr', 'scales', 'sweep'):
                assert setting not in c, c
    # and the configs hold the methods' values: on VOC the reference's
    # constants, on the generated data the rule t_fg = t*, t_bg = t* - 0.10
    # of the method's own seed sweep
    cam, c2am, spatial = (_cfg(f'pseudo_mask_{m}_voc.py').model
                          for m in ('cam', 'c2am', 'c2am_spatial'))
    assert (cam.t_fg, cam.t_bg) == (0.30, 0.05)
    assert (c2am.t_fg, c2am.t_bg) == (spatial.t_fg, spatial.t_bg) == \
        (0.375, 0.10)
    for m in ('cam', 'c2am', 'c2am_spatial'):
        gen = _cfg(f'pseudo_mask_{m}_gen.py').model
        assert (gen.t_fg, gen.t_bg) == (None, None)
        assert (gen.thresholds_from_seeds.fg,
                gen.thresholds_from_seeds.bg) == (0.0, -0.10)
    for cam, *c2am in (('irn_cam_r50_voc.py', 'irn_c2am_r50_voc.py',
                        'irn_c2am_spatial_r50_voc.py'),
                       ('irn_cam_r18_gen.py', 'irn_c2am_r18_gen.py',
                        'irn_c2am_spatial_r18_gen.py')):
        assert _cfg(cam).model.test_cfg.bg_thr == 0.25
        for c in c2am:
            assert _cfg(c).model.test_cfg.bg_thr == 0.20


def test_commands(tmp_path):
    """What is run: the tools on the configs, dist scripts with --gpus."""
    import argparse
    ns = argparse.Namespace(preset='gen', work_dir=str(tmp_path), gpus=1,
                            refine=['crf'], methods=['cam'], data_root=None)
    pipe = rp.Pipeline(ns)
    seeds = rp.stages('gen', 'cam', 'crf')[1]
    (tmp_path / 'work_dirs' / 'cam_r18_gen').mkdir(parents=True)
    (tmp_path / 'work_dirs' / 'cam_r18_gen' / 'last_checkpoint').write_text(
        '/x/epoch_20.pth')
    cmd = pipe.command(seeds)
    assert cmd[1:] == [osp.join(REPO, 'tools/test.py'),
                       osp.join(CONFIGS, 'cam_r18_gen.py'), '/x/epoch_20.pth',
                       '--work-dir', 'work_dirs/cam_r18_gen']
    ns.gpus = 8
    crf = rp.stages('gen', 'cam', 'crf')[3]
    assert pipe.command(crf) == [
        'bash', osp.join(REPO, 'tools/dist_test.sh'),
        osp.join(CONFIGS, 'pseudo_mask_cam_gen.py'), '8', '--work-dir',
        'work_dirs/pseudo_mask_cam_gen']


# Every stage of the generated-data pipeline on tiny data and schedules
# (16 train_aug images: one classifier step per epoch); what it measures is
# meaningless, that every stage runs and chains is the point. Two classes and
# 4 steps: C2AM's GlobalCAMHook refuses a classifier whose CAMs of a present
# class are all zero (8 classes and 6 steps still had 6 dead classes).
TINY = [
    '--num-train', '8', '--num-val', '4', '--num-aug', '8',
    '--classes', 'cat', 'sheep',
    '--methods', 'cam', 'c2am', '--refine', 'crf', 'irn', '--cfg-options',
    'cam_r18_gen:train_cfg.max_epochs=4', 'cam_r18_gen:param_scheduler.end=4',
    'c2am_r18_gen:train_cfg.max_epochs=1', 'c2am_r18_gen:param_scheduler.end=1',
    'c2am_r18_gen:load_from=work_dirs/cam_r18_gen/epoch_4.pth',
    'irn_cam_r18_gen:train_cfg.max_epochs=1',
    'irn_c2am_r18_gen:train_cfg.max_epochs=1',
    'deeplabv3plus_r18w32-d16_gen-pseudo:train_cfg.max_iters=2',
    'deeplabv3plus_r18w32-d16_gen-pseudo:train_cfg.val_interval=2',
    'deeplabv3plus_r18w32-d16_gen-pseudo:default_hooks.checkpoint.interval=2',
    'deeplabv3plus_r18w32-d16_gen-pseudo:param_scheduler.0.end=2',
]


def test_whole_pipeline_on_a_tiny_preset(tmp_path):
    import json
    import subprocess
    import sys
    cmd = [sys.executable, osp.join(REPO, 'tools', 'run_pipeline.py'),
           '--work-dir', str(tmp_path), *TINY]
    ret = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    logs = ''.join(p.read_text()[-3000:] for p in tmp_path.glob('*.log'))
    assert ret.returncode == 0, ret.stdout[-3000:] + ret.stderr + logs
    rows = json.loads((tmp_path / 'results.json').read_text())
    assert set(rows) == {'cam', 'c2am'}
    for row in rows.values():
        assert None not in row.values(), rows
    # the CRF stage took its thresholds from the method's seed stage
    for method, cls in (('cam', 'cam_r18_gen'), ('c2am', 'c2am_r18_gen')):
        seeds = json.loads((tmp_path / 'work_dirs' / cls /
                            'test_metrics.json').read_text())
        params = json.loads(
            (tmp_path / 'work_dirs' / f'pseudo_mask_{method}_gen' / 'masks' /
             '.mask_params.json').read_text())
        assert params['thresholds_from_seeds']['best_threshold'] == \
            pytest.approx(rp._pick(seeds, 'best_threshold'))
    # a second run finds every stage done
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'failed' not in again.stdout
    assert again.stdout.count('done before, skipped') == 16, again.stdout
    # progress: a line per stage with the time left, mmengine's lines
    assert re.search(r'train cam_r18_gen: finished in \d+ s \| \d+/16 '
                     r'stages done, elapsed \d+:\d\d, about \d+:\d\d left',
                     ret.stdout), ret.stdout
    assert re.search(r'    train cam_r18_gen: Epoch\(train\)', ret.stdout)
    # the figure of the run (tools/pipeline_figure.py), path printed
    from PIL import Image
    spec = importlib.util.spec_from_file_location(
        'pipeline_figure', osp.join(REPO, 'tools', 'pipeline_figure.py'))
    pf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pf)
    fig = tmp_path / 'figure.png'
    assert f'figure: {fig}' in ret.stdout
    with Image.open(fig) as img:  # 4 val images, those with an object
        assert img.size in [pf.figure_size(n, 2) for n in range(1, 5)]
