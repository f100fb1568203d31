"""tools/run_pipeline.py runs the stages that the pipeline configs
(configs/pipelines/, mmc2am.pipeline.Methods) list per method, whose default
folders chain, with no setting of its own."""
import contextlib
import importlib.util
import io
import json
import os
import os.path as osp
import re
import signal
import subprocess
import time
import traceback

import pytest
from mmengine.config import Config

from mmc2am.pipeline import (
    NO_CRF,
    Methods,
    Stage,
    generator_options,
    methods_table,
    runs_mean_std,
    work_dir_of,
)
from mmc2am.utils import find_config
from mmc2am.utils.io import pick_metric

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _pipeline():
    spec = importlib.util.spec_from_file_location(
        'run_pipeline', osp.join(REPO, 'tools', 'run_pipeline.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rp = _pipeline()
PRESETS = {p: Methods(p) for p in ('gen', 'voc')}


def _cfg(name):
    return Config.fromfile(find_config(name))


@pytest.mark.parametrize('preset', ['gen', 'voc'])
@pytest.mark.parametrize(
    'method', ['cam', 'c2am', 'c2am_spatial', 'recam', 'advcam'])
@pytest.mark.parametrize('refine', ['crf', 'irn'])
def test_stages_chain_through_default_folders(preset, method, refine):
    m = PRESETS[preset]
    stages = m.stages(method, refine)
    cam_cls = m.config('cam', 'classifier')
    # a method that trains no classifier (AdvCAM) tests plain CAM's
    trained = [] if m.trains(method) else [work_dir_of(cam_cls)]
    for s in stages:
        assert osp.isfile(find_config(s.config)), s.config
        if s.ckpt_of is not None:  # a test of an earlier training
            assert s.ckpt_of in trained, s
        if s.tool == 'train':
            trained.append(s.work)
        # only folders are passed, never a setting (but the segmenter's
        # test without its test-time CRF, in a folder of its own)
        if s.work.endswith('/no_crf'):
            assert s.opts == ('model.test_cfg.crf=None', )
            continue
        for opt in s.opts:
            assert re.fullmatch(r'[\w.]+_dir=work_dirs/[\w/]+', opt), opt
    cls, cams, crf, irn = (m.config(method, f) for f in
                           ('classifier', 'cams', 'crf', 'irn'))
    names = [s.config for s in stages]
    if m.trains(method):
        assert names[:4] == [cls, cls, cams, crf]
        seeds = stages[1]
    else:  # no classifier training: the seed test first
        assert names[:3] == [cls, cams, crf]
        assert ('train', cls) not in [(s.tool, s.config) for s in stages]
        seeds = stages[0]
    assert (seeds.config, seeds.tool) == (cls, 'test')
    cam_dir = osp.join(work_dir_of(cams), 'cams')
    crf_masks = osp.join(work_dir_of(crf), 'masks')
    crf_cfg = _cfg(crf)
    assert crf_cfg.test_dataloader.dataset.cam_dir == cam_dir
    # the masks: MaskFileHook's default folder, <work dir>/masks
    assert crf_cfg.default_hooks.mask_file.type == 'MaskFileHook'
    assert crf_cfg.default_hooks.mask_file.get('out_dir') is None
    rule = crf_cfg.model.get('thresholds_from_seeds')
    if preset == 'gen':  # thresholds from this method's seed stage
        assert rule.metrics == osp.join(seeds.work, 'test_metrics.json')
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
        assert irn_cfg.default_hooks.mask_file.get('out_dir') is None
        masks = osp.join(work_dir_of(irn), 'masks')
    else:
        assert irn not in names
    # the gen segmenter scores with DeepLab's test CRF, and again without
    # it; the VOC DeepLabV3+ has none
    seg = stages[-3:] if preset == 'gen' else stages[-2:]
    seg_train, seg_test = seg[:2]
    assert seg_train.opts == (f'train_dataloader.dataset.mask_dir={masks}', )
    assert [s.kind for s in seg] == ['segmenter'] * len(seg)
    assert seg_test.ckpt_of == seg_test.work == seg_train.work
    assert m.segmenter_crf == (preset == 'gen')
    if preset == 'gen':
        no_crf = seg[2]
        assert (no_crf.tool, no_crf.ckpt_of) == ('test', seg_train.work)
        assert no_crf.work == osp.join(seg_train.work, NO_CRF)
        assert no_crf.after == (len(stages) - 3, )  # the training
    if method != 'cam':  # on VOC, ReCAM's: CAM with layer1-2 trained
        assert m.start(method) == (
            'cam_l12' if (preset, method) == ('voc', 'recam') else 'cam')
    if method != 'cam' and m.trains(method):
        # fine-tunes its start method's classifier
        start = _cfg(cls).load_from
        start_cls = m.config(m.start(method), 'classifier')
        assert start == osp.join(
            work_dir_of(start_cls),
            f'epoch_{_cfg(start_cls).train_cfg.max_epochs}.pth')
    elif not m.trains(method):
        # a test mode of the plain-CAM classifier: its checkpoint fits
        model, cam_model = _cfg(cls).model, _cfg(cam_cls).model
        assert model.test_cfg.cam_generator.type == 'AdvCAM'
        model.pop('test_cfg'), cam_model.pop('test_cfg')
        assert model == cam_model
        assert _cfg(cls).get('load_from') is None


def test_the_preset_pipeline_configs():
    """The method -> configs map of both presets (configs/pipelines/)."""
    gen, voc = PRESETS['gen'], PRESETS['voc']
    # the first five of both; gen adds generated-data methods, voc CONTA
    assert gen.keys[:5] == voc.keys[:5] == [
        'cam', 'c2am', 'c2am_spatial', 'recam', 'advcam']
    assert voc.keys[5:] == ['conta', 'c2am_7cb39df', 'seam', 'conta_seam',
                            'rca', 'cam_l12']
    assert [gen.config('c2am_spatial', f) for f in (
        'classifier', 'cams', 'crf', 'irn')] == [
        'c2am_r18_gen_spatial.py', 'c2am_r18_gen_spatial_trainaug.py',
        'crf_gen_c2am_spatial.py', 'irn_r18_gen_c2am_spatial.py']
    assert [voc.config('advcam', f) for f in (
        'classifier', 'cams', 'crf', 'irn')] == [
        'advcam_r50_voc.py', 'advcam_r50_voc_trainaug.py',
        'crf_voc_advcam.py', 'irn_r50_voc_advcam.py']
    assert (gen.data_root, gen.segmenter, gen.generate_data) == (
        'data/gen_voc/VOC2012', 'deeplabv3plus_r18w32-d16_gen_pseudo.py',
        True)
    assert (voc.data_root, voc.segmenter, voc.generate_data) == (
        'data/VOCdevkit/VOC2012', 'deeplabv3plus_r50-d8_voc_pseudo.py',
        False)
    assert (gen.jobs, gen.stage_threads, gen.figure) == (2, 1, True)
    assert (voc.jobs, voc.stage_threads, voc.figure) == (1, None, False)
    # the ETA's measured seconds: the generated data's only
    assert gen.expected(Stage('train', 'cam_r18_gen.py')) == 114
    assert gen.expected(Stage('test', 'crf_gen_recam.py')) == 60
    assert voc.expected_seconds == {}
    assert {k: gen.names[k] for k in voc.keys[:5]} == dict(
        cam='CAM', c2am='C2AM', c2am_spatial='C2AM spatial', recam='ReCAM',
        advcam='AdvCAM')
    assert voc.names == {**{k: gen.names[k] for k in voc.keys[:5]},
                         'conta': 'CONTA',
                         'c2am_7cb39df': 'C2AM (7cb39df)',
                         'seam': 'SEAM', 'conta_seam': 'CONTA+SEAM',
                         'rca': 'RCA',
                         'cam_l12': 'CAM, layer1-2 trained'}
    # the papers' segmenter: voc.py otherwise
    v2 = Methods('voc_deeplabv2')
    assert v2.segmenter == 'deeplabv2_r101-d8_voc_pseudo.py'
    assert (v2.keys, v2.smoke) == (voc.keys, voc.smoke)
    # list_configs (every config loads) leaves the pipeline configs out
    from mmc2am.utils import list_configs
    assert not [p for p in list_configs().values() if 'pipelines' in p]


def test_seeds_only_change_the_classifier_stages():
    gen = PRESETS['gen']
    default = gen.stages('c2am', 'irn')
    seeded = gen.stages('c2am', 'irn', seed=2)
    assert [s._replace(opts=()) for s in seeded] == \
        [s._replace(opts=()) for s in default]
    for s, d in zip(seeded, default):
        extra = set(s.opts) - set(d.opts)
        assert extra == ({'randomness.seed=2'} if s.config in (
            'c2am_r18_gen.py', 'c2am_r18_gen_trainaug.py') else set()), s


def test_methods_and_their_start():
    gen = PRESETS['gen']
    assert rp.parse_args([]).methods == ['cam', 'c2am', 'c2am_spatial']
    args = rp.parse_args(['--methods', 'advcam', 'recam'])
    # cam always runs (the others start from its classifier), first
    assert gen.to_run(args.methods) == ['cam', 'recam', 'advcam']
    assert {m: gen.trains(m) for m in gen.keys} == dict(
        cam=True, c2am=True, c2am_spatial=True, recam=True, advcam=False,
        rca=True, seam=True, conta_seam=True, paste=True, erase=True,
        wood=True)
    assert [m for m in gen.keys if gen.start(m)] == [
        'c2am', 'c2am_spatial', 'recam', 'advcam', 'conta_seam', 'paste',
        'erase', 'wood']
    # CAM + paste's object bank, CAM + erase's (and W-OoD's) erase masks
    # are their start's masks: they wait for them
    for m in ('paste', 'erase', 'wood'):
        assert gen.start_masks(m) == \
            'train_dataloader.dataset.pipeline.1.mask_dir'
    # CONTA+SEAM's round reads SEAM's masks: its training waits for them
    assert gen.start_masks('conta_seam') == 'custom_hooks.0.mask_dir'
    _, deps = gen.graph(['seam', 'conta_seam'], 'crf', 'masks')
    assert ('seam', gen.masks_stage('seam', 'crf')) in deps['conta_seam', 0]
    # a start method trains its classifier: its stage 0, which graph()
    # waits for
    for m in gen.keys:
        start = gen.start(m)
        if start is not None:
            assert gen.trains(start)
            assert gen.stages(start, 'crf')[0].tool == 'train'
    with pytest.raises(SystemExit):  # not a method of the preset
        rp.parse_args(['--methods', 'mine'])
    # the defaults of the presets: 2 jobs on gen (at most the CPUs), 1 on voc
    assert rp.parse_args(['--preset', 'voc']).jobs == 1
    assert rp.parse_args([]).jobs == min(2, os.cpu_count() or 1)


@pytest.mark.parametrize('preset', ['gen', 'voc'])
def test_advcam_stages_test_cams_checkpoint_in_own_folders(preset):
    m = PRESETS[preset]
    cls, cams, crf, irn = (m.config('advcam', f) for f in
                           ('classifier', 'cams', 'crf', 'irn'))
    seg = m.segmenter
    cam_dir = work_dir_of(m.config('cam', 'classifier'))
    stages = m.stages('advcam', 'irn', seed=3)
    # no classifier training; the later stages as every method's
    # (the gen segmenter's test without its test CRF last)
    no_crf = [('test', seg)] if preset == 'gen' else []
    assert [(s.tool, s.config) for s in stages] == [
        ('test', cls), ('test', cams), ('test', crf), ('train', irn),
        ('test', irn), ('train', seg), ('test', seg)] + no_crf
    assert [s.after for s in stages] == [(), (), (0, 1), (2, ), (3, ),
                                         (4, ), (5, )] + [(5, )] * len(no_crf)
    seeds, cam_files = stages[:2]
    # the seeds and the CAM files: AdvCAM's test mode on cam's checkpoint,
    assert seeds.ckpt_of == cam_files.ckpt_of == cam_dir == \
        m.classifier_dir('advcam')
    # written to AdvCAM's own folders (cam's test_metrics.json stays)
    assert seeds.work_dir is None and cam_files.work_dir is None
    assert work_dir_of(cls) == osp.join(
        'work_dirs', f'advcam_{"r18_gen" if preset == "gen" else "r50_voc"}')
    assert work_dir_of(cls) != cam_dir
    # AdvCAM's inference draws nothing at random: no training seed
    assert not [o for s in stages for o in s.opts if 'randomness' in o]
    # the trained methods take it
    recam = m.stages('recam', 'crf', seed=3)
    assert 'randomness.seed=3' in recam[1].opts


def test_graph_and_commands_of_the_cam_started_methods(tmp_path):
    """ReCAM / C2AM wait for cam's training (load_from), AdvCAM's seed and
    CAM-file tests too, and run on cam's checkpoint in their folders."""
    import argparse
    import json
    ns = argparse.Namespace(
        preset='gen', work_dir=str(tmp_path), gpus=1, refine=['crf'],
        methods=PRESETS['gen'].to_run(['c2am', 'recam', 'advcam']),
        data_root=None)
    assert ns.methods == ['cam', 'c2am', 'recam', 'advcam']
    pipe = rp.Pipeline(ns)
    nodes, deps = pipe.graph()
    assert nodes['cam', 0] == Stage('train', 'cam_r18_gen.py',
                                    kind='classifier')
    assert deps['cam', 0] == []
    for m in ('c2am', 'recam'):
        assert nodes[m, 0].tool == 'train'
        assert deps[m, 0] == [('cam', 0)]
        assert deps[m, 1] == deps[m, 2] == [(m, 0)]
    assert deps['advcam', 0] == deps['advcam', 1] == [('cam', 0)]
    assert deps['advcam', 2] == [('advcam', 0), ('advcam', 1)]
    assert len([k for k in nodes if k[0] == 'advcam']) == \
        len([k for k in nodes if k[0] == 'cam']) - 1
    cam_work = tmp_path / 'work_dirs' / 'cam_r18_gen'
    cam_work.mkdir(parents=True)
    (cam_work / 'last_checkpoint').write_text('/x/epoch_15.pth')
    seeds, cam_files = nodes['advcam', 0], nodes['advcam', 1]
    command = pipe.engine.command
    assert command(seeds, pipe.work_dir)[1:] == [
        osp.join(REPO, 'tools/test.py'),
        find_config('advcam_r18_gen.py'), '/x/epoch_15.pth',
        '--work-dir', 'work_dirs/advcam_r18_gen']
    assert command(cam_files, pipe.work_dir)[1:] == [
        osp.join(REPO, 'tools/test.py'),
        find_config('advcam_r18_gen_trainaug.py'), '/x/epoch_15.pth',
        '--work-dir', 'work_dirs/advcam_r18_gen_trainaug']
    assert osp.join(pipe.work_dir, seeds.marker) == str(
        tmp_path / 'work_dirs' / 'advcam_r18_gen' /
        '.done_test_advcam_r18_gen')
    # the table's seed column: each method's own seed test
    (cam_work / 'test_metrics.json').write_text(json.dumps(
        {'seed/mIoU': 20.0, 'seed/best_threshold': 0.5}))
    adv_work = tmp_path / 'work_dirs' / 'advcam_r18_gen'
    adv_work.mkdir(parents=True)
    (adv_work / 'test_metrics.json').write_text(json.dumps(
        {'seed/mIoU': 30.0, 'seed/best_threshold': 0.4}))
    rows = pipe.results()
    assert (rows['cam']['seed_miou'], rows['advcam']['seed_miou']) == \
        (20.0, 30.0)
    assert rows['recam']['seed_miou'] is None
    assert '| AdvCAM | 30.0 | 0.40 |' in pipe.table(rows)
    # the order of results.json's keys (make demo's file, compared byte for
    # byte before and after changes)
    assert list(rows['cam']) == ['seed_miou', 'seed_threshold',
                                 'pseudo_crf_miou', 'pseudo_irn_miou',
                                 'seg_val_miou', 'seg_val_miou_no_crf']


def test_until_and_the_fixed_threshold_column(tmp_path):
    """--until drops the later stages of every method; --fixed-thr adds the
    seed mIoU at the swept threshold nearest to it, from the newest sweep."""
    import argparse
    import json
    ns = argparse.Namespace(
        preset='gen', work_dir=str(tmp_path), gpus=1, refine=['crf'],
        methods=['cam', 'advcam'], data_root=None, until='masks',
        fixed_thr=0.5)
    pipe = rp.Pipeline(ns)
    nodes, deps = pipe.graph()
    assert [nodes['cam', i].kind for i in range(4)] == [
        'classifier', 'seeds', 'cams', 'masks']
    assert len([k for k in nodes if k[0] == 'cam']) == 4
    assert len([k for k in nodes if k[0] == 'advcam']) == 3
    assert all(d in nodes for ds in deps.values() for d in ds)
    ns.until = 'seeds'
    nodes, _ = pipe.graph()
    assert sorted(nodes) == [('advcam', 0), ('cam', 0), ('cam', 1)]
    assert nodes['advcam', 0].config == 'advcam_r18_gen.py'
    # with the irn refinement, 'masks' keeps IRNet's training and walk
    ns.until, ns.refine = 'masks', ['irn']
    nodes, _ = pipe.graph()
    assert [nodes['cam', i].config for i in range(4, 6)] == [
        'irn_r18_gen_cam.py'] * 2
    assert ('cam', 6) not in nodes
    ns.refine = ['crf']

    cam_work = tmp_path / 'work_dirs' / 'cam_r18_gen'
    for stamp, miou in (('20260101_000000', [1.0, 2.0, 3.0]),
                        ('20260102_000000', [10.0, 20.5, None])):
        (cam_work / stamp).mkdir(parents=True)
        (cam_work / stamp / 'seed_sweep.json').write_text(json.dumps(dict(
            thresholds=[0.4, 0.5, 0.6], mIoU=miou, best_threshold=0.5,
            best_mIoU=20.5)))
    (cam_work / 'test_metrics.json').write_text(json.dumps(
        {'seed/mIoU': 20.5, 'seed/best_threshold': 0.5}))
    rows = pipe.results()
    assert rows['cam']['seed_fixed_miou'] == 20.5  # the newest sweep
    assert rows['advcam']['seed_fixed_miou'] is None  # no seed test yet
    text = pipe.table(rows)
    assert '| method | seed mIoU (train) | seed mIoU at t = 0.50 (train) |' \
        in text
    assert '| CAM | 20.5 | 20.5 | 0.50 | - |' in text
    ns.fixed_thr = 0.58  # nearest swept threshold 0.6: no value there
    assert pipe.results()['cam']['seed_fixed_miou'] is None
    ns.fixed_thr = None
    rows = pipe.results()
    assert 'seed_fixed_miou' not in rows['cam']
    assert 'at t =' not in pipe.table(rows)
    # mean +- std over runs, with and without the column
    runs = [dict(cam=dict(r, seed_fixed_miou=v)) for r, v in
            ((dict(rows['cam'], seed_miou=20.0), 10.0),
             (dict(rows['cam'], seed_miou=22.0), 14.0))]
    ms = runs_mean_std(runs)
    assert ms['cam']['seed_fixed_miou'] == [12.0, pytest.approx(2 ** 1.5)]
    ns.fixed_thr = 0.5
    assert '| CAM | 21.0 +- 1.4 | 12.0 +- 2.8 |' in pipe.table(ms, runs=2)
    assert 'seed_fixed_miou' not in runs_mean_std(
        [dict(cam=rows['cam'])] * 2)['cam']


@pytest.mark.parametrize('preset', ['gen', 'voc'])
@pytest.mark.parametrize('method', ['recam', 'advcam'])
def test_method_configs_build(preset, method, tmp_path, monkeypatch):
    """The new methods' CAM-file, CRF and IRN configs build (nothing
    downloaded); the generated-data CRF stage takes the method's own t*."""
    import json

    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS as CLS_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    import mmc2am  # noqa: F401
    m = PRESETS[preset]
    cls, cams, crf = (m.config(method, f)
                      for f in ('classifier', 'cams', 'crf'))
    irn = m.config(method, 'irn')
    cfg = _cfg(cams)
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    init_default_scope(cfg.default_scope)
    model = CLS_MODELS.build(cfg.model)
    assert type(model).__name__ == 'CAMClassifier'
    generator = 'AdvCAM' if method == 'advcam' else 'MultiScaleCAM'
    assert type(model.cam_generator).__name__ == generator
    if method == 'recam':
        assert type(model.head).__name__ == 'ReCAMHead'
    # the seed stages' metrics, where the default folders put them: cam's
    # and this method's differ
    monkeypatch.chdir(tmp_path)
    for config, best in ((m.config('cam', 'classifier'), 0.3), (cls, 0.6)):
        work = tmp_path / work_dir_of(config)
        work.mkdir(parents=True)
        (work / 'test_metrics.json').write_text(json.dumps(
            {'seed/best_threshold': best}))
    cfg = _cfg(crf)
    init_default_scope(cfg.default_scope)
    model = SEG_MODELS.build(cfg.model)
    if preset == 'gen':  # t_fg = t*, t_bg = t* - 0.10 of its own sweep
        assert (model.t_fg, model.t_bg) == (0.6, 0.5)
    else:  # the references' (tests/test_voc_thresholds.py cites them)
        assert (model.t_fg, model.t_bg) == dict(
            recam=(0.35, 0.10), advcam=(0.35, 0.15))[method]
    cfg = _cfg(irn)
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    init_default_scope(cfg.default_scope)
    model = SEG_MODELS.build(cfg.model)
    walk = dict(bg_thr=0.25, cam_power=1.0)  # IRN's, as plain CAM's
    if preset == 'voc':
        walk = dict(recam=dict(bg_thr=0.28, cam_power=1.0),
                    advcam=dict(bg_thr=0.25, cam_power=1.5))[method]
    assert {k: model.test_cfg[k] for k in walk} == walk
    # plain CAM's IRN model, on this method's masks and CAMs, with its walk
    cam_irn = _cfg(m.config('cam', 'irn'))
    cam_irn.merge_from_dict({'model.backbone.init_cfg': None})
    if preset == 'voc':
        cam_irn.model.test_cfg.update(walk)
    assert cfg.model == cam_irn.model


def test_mean_std_table():
    runs = [dict(cam=dict(seed_miou=v, seed_threshold=0.5,
                          pseudo_crf_miou=v + 10, pseudo_irn_miou=None,
                          seg_val_miou=v + 5)) for v in (40.0, 42.0, 44.0)]
    rows = runs_mean_std(runs)
    assert rows['cam']['seed_miou'] == [42.0, 2.0]
    assert rows['cam']['pseudo_irn_miou'] is None
    text = methods_table(rows, PRESETS['gen'].names, 'crf', runs=3)
    assert '| CAM | 42.0 +- 2.0 | 0.50 +- 0.00 | 52.0 +- 2.0 | - | ' \
        '47.0 +- 2.0 |' in text


def test_data_of_other_options_is_refused(tmp_path):
    import json
    args = rp.parse_args(['--work-dir', str(tmp_path)])
    pipe = rp.Pipeline(args)
    meta = tmp_path / PRESETS['gen'].data_root / 'meta.json'
    meta.parent.mkdir(parents=True)
    want = generator_options(args, args.context_prob)
    meta.write_text(json.dumps(dict(
        want, format_version=2, drawn_classes=want['drawn_classes'][::-1])))
    pipe.data()  # the same options (classes in any order): reused
    meta.write_text(json.dumps(dict(want, format_version=2,
                                    context_prob=0.8)))
    with pytest.raises(SystemExit, match='context_prob'):
        pipe.data()


@pytest.mark.parametrize('script', [
    'tools/run_pipeline.py', 'mmc2am/pipeline/engine.py',
    'mmc2am/pipeline/methods.py', 'mmc2am/pipeline/stage.py',
    'mmc2am/pipeline/results.py', 'mmc2am/pipeline/data.py'])
def test_method_settings_live_in_the_configs(script):
    import ast
    with open(osp.join(REPO, script)) as f:
        tree = ast.parse(f.read())
    # the docstrings (module, classes, functions), as written, are prose
    docs = {ast.get_docstring(n, clean=False) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))}
    consts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    # floats: the data generator's --context-prob default, the engine's
    # poll interval, progress-line interval, default stage seconds and
    # speed, zeros
    assert {c for c in consts if isinstance(c, float)} <= {
        0.5, 0.2, 20.0, 60.0, 1.0, 0.0}
    for c in consts:
        if isinstance(c, str) and c not in docs:
            for setting in ('t_fg', 't_bg', 'bg_thr', 'scales', 'sweep'):
                assert setting not in c, c
    # and the configs hold the methods' values: on VOC the reference's
    # constants, on the generated data the rule t_fg = t*, t_bg = t* - 0.10
    # of the method's own seed sweep
    cam, c2am, spatial = (_cfg(f'crf_voc_{m}.py').model
                          for m in ('cam', 'c2am', 'c2am_spatial'))
    assert (cam.t_fg, cam.t_bg) == (0.30, 0.05)
    assert (c2am.t_fg, c2am.t_bg) == (spatial.t_fg, spatial.t_bg) == \
        (0.375, 0.10)
    for m in ('cam', 'c2am', 'c2am_spatial'):
        gen = _cfg(f'crf_gen_{m}.py').model
        assert (gen.t_fg, gen.t_bg) == (None, None)
        assert (gen.thresholds_from_seeds.fg,
                gen.thresholds_from_seeds.bg) == (0.0, -0.10)
    for cam, *c2am in (('irn_r50_voc_cam.py', 'irn_r50_voc_c2am.py',
                        'irn_r50_voc_c2am_spatial.py'),
                       ('irn_r18_gen_cam.py', 'irn_r18_gen_c2am.py',
                        'irn_r18_gen_c2am_spatial.py')):
        assert _cfg(cam).model.test_cfg.bg_thr == 0.25
        for c in c2am:
            assert _cfg(c).model.test_cfg.bg_thr == 0.20


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
    'irn_r18_gen_cam:train_cfg.max_epochs=1',
    'irn_r18_gen_c2am:train_cfg.max_epochs=1',
    'deeplabv3plus_r18w32-d16_gen_pseudo:train_cfg.max_iters=2',
    'deeplabv3plus_r18w32-d16_gen_pseudo:train_cfg.val_interval=2',
    'deeplabv3plus_r18w32-d16_gen_pseudo:default_hooks.checkpoint.interval=2',
    'deeplabv3plus_r18w32-d16_gen_pseudo:param_scheduler.0.end=2',
]


# what the subprocess run of tools/run_pipeline.py was allowed: a hung
# stage fails its test instead of running into CI's limit
MAIN_TIMEOUT = 600


def _main(argv: list) -> subprocess.CompletedProcess:
    """``python tools/run_pipeline.py argv`` run in this process: its exit
    code and what it printed (stdout and stderr together, as ``stdout``).

    Its stages are forked from :mod:`mmc2am.pipeline.launcher`'s
    forkserver exactly as from a fresh interpreter; running the driver
    itself here saves a start of the stack per run and lets this worker's
    runs share one forkserver (started once, 6 s of a CPU each time).
    Past ``MAIN_TIMEOUT`` seconds (SIGALRM) it stops with a TimeoutError,
    reported as exit code 1."""
    out = io.StringIO()
    code = 0
    cwd = os.getcwd()

    def timeout(signum, frame):
        raise TimeoutError(f'tools/run_pipeline.py {" ".join(argv)}: still '
                           f'running after {MAIN_TIMEOUT} s')

    os.chdir(REPO)  # where the subprocess ran (contextlib.chdir: 3.11+)
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(MAIN_TIMEOUT)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rp.main(list(argv))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(
                e.code is not None)
            if not isinstance(e.code, (int, type(None))):
                print(e.code)
        except Exception:  # reported like the interpreter would
            traceback.print_exc()
            code = 1
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            os.chdir(cwd)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), '')


def test_a_hung_run_in_this_process_fails_at_the_timeout(monkeypatch):
    """_main keeps the subprocess's limit: a run still going at
    MAIN_TIMEOUT fails with exit 1 and says so; the alarm is cleared."""
    monkeypatch.setattr(rp, 'main', lambda argv: time.sleep(20))
    monkeypatch.setitem(globals(), 'MAIN_TIMEOUT', 1)
    start = time.monotonic()
    ret = _main(['--methods', 'cam'])
    assert time.monotonic() - start < 10
    assert ret.returncode == 1
    assert 'still running after 1 s' in ret.stdout
    assert signal.alarm(0) == 0  # nothing left pending


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """The whole tiny pipeline, run once for this file's tests (the method
    added by configs starts from its CAM classifier): its work folder, its
    command line and its result."""
    work = tmp_path_factory.mktemp('tiny')
    argv = ['--work-dir', str(work), *TINY]
    return work, argv, _main(argv)


def test_whole_pipeline_on_a_tiny_preset(tiny_run):
    tmp_path, cmd, ret = tiny_run
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
            (tmp_path / 'work_dirs' / f'crf_gen_{method}' / 'masks' /
             '.mask_params.json').read_text())
        assert params['thresholds_from_seeds']['best_threshold'] == \
            pytest.approx(pick_metric(seeds, 'best_threshold'))
    # the segmenter scored with DeepLab's test CRF, then without it
    for method in ('cam', 'c2am'):
        seg = tmp_path / 'work_dirs' / f'seg_{method}_irn'
        assert (seg / 'no_crf' / 'test_metrics.json').is_file()
    assert 'test deeplabv3plus_r18w32-d16_gen_pseudo -> seg_cam_irn/no_crf' \
        in ret.stdout
    assert '| segmenter without test CRF |' in ret.stdout
    # a second run finds every stage done
    again = _main(cmd)
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'failed' not in again.stdout
    assert again.stdout.count('done before, skipped') == 18, again.stdout
    # nothing ran: the figure of the first run is kept, not drawn again
    assert f'figure: {tmp_path / "figure.png"} (done before, kept)' in \
        again.stdout
    # progress: a line per stage with the time left, mmengine's lines
    assert re.search(r'train cam_r18_gen: finished in \d+ s \| \d+/18 '
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


def _user_pipeline(tmp_path):
    """A method added by configs and one entry: a classifier config that
    inherits the plain fine-tuning control with another lr, its CAM-file
    and CRF configs, and a pipeline config that inherits gen.py."""
    cfg = tmp_path / 'cfgs'
    cfg.mkdir()
    (cfg / 'ftlr_r18_gen.py').write_text(
        f'_base_ = [{find_config("cam_r18_gen_ft.py")!r}]\n'
        'optim_wrapper = dict(optimizer=dict(lr=2e-3))\n')
    (cfg / 'ftlr_r18_gen_trainaug.py').write_text(
        "_base_ = ['./ftlr_r18_gen.py']\n"
        'test_dataloader = dict(dataset=dict(\n'
        "    ann_file='ImageSets/Segmentation/trainaug.txt',\n"
        "    data_prefix=dict(seg_map_path='SegmentationClassAug')))\n"
        "default_hooks = dict(cam_file=dict(type='CAMFileHook'))\n")
    (cfg / 'crf_gen_ftlr.py').write_text(
        f'_base_ = [{find_config("crf_gen_cam.py")!r}]\n'
        'model = dict(thresholds_from_seeds=dict(\n'
        "    metrics='work_dirs/ftlr_r18_gen/test_metrics.json'))\n"
        'test_dataloader = dict(dataset=dict(\n'
        "    cam_dir='work_dirs/ftlr_r18_gen_trainaug/cams'))\n")
    gen = osp.join(REPO, 'configs', 'pipelines', 'gen.py')
    pipeline = cfg / 'pipeline.py'
    pipeline.write_text(
        f'_base_ = [{gen!r}]\n'
        "methods = dict(ftlr=dict(name='FT lr 2e-3', start='cam',\n"
        "                         classifier='ftlr_r18_gen.py'))\n")
    return str(pipeline)


def test_methods_of_a_user_pipeline_config(tmp_path):
    pipeline = _user_pipeline(tmp_path)
    m = Methods(pipeline)
    assert m.keys == Methods('gen').keys + ['ftlr']
    # its configs beside it; the CAM-file and CRF configs by gen.py's
    # patterns
    here = str(tmp_path / 'cfgs')
    assert [m.config('ftlr', f) for f in ('classifier', 'cams', 'crf')] == [
        osp.join(here, 'ftlr_r18_gen.py'),
        osp.join(here, 'ftlr_r18_gen_trainaug.py'),
        osp.join(here, 'crf_gen_ftlr.py')]
    assert m.to_run(['ftlr']) == ['cam', 'ftlr']
    nodes, deps = m.graph(['cam', 'ftlr'], 'crf', 'masks')
    assert [st.name for k, st in nodes.items() if k[0] == 'ftlr'] == [
        'train ftlr_r18_gen', 'test ftlr_r18_gen',
        'test ftlr_r18_gen_trainaug', 'test crf_gen_ftlr']
    assert deps['ftlr', 0] == [('cam', 0)]
    # --methods takes it with --pipeline, not without
    spec = importlib.util.spec_from_file_location(
        'run_pipeline', osp.join(REPO, 'tools', 'run_pipeline.py'))
    rp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rp)
    assert rp.parse_args(['--pipeline', pipeline, '--methods',
                          'ftlr']).methods == ['ftlr']
    with pytest.raises(SystemExit):
        rp.parse_args(['--methods', 'ftlr'])
    # a start method that trains nothing is refused
    bad = tmp_path / 'bad.py'
    bad.write_text(f'_base_ = [{pipeline!r}]\n'
                   "methods = dict(ftlr=dict(start='advcam'))\n")
    with pytest.raises(ValueError, match='trains no classifier'):
        Methods(str(bad))


def test_a_method_added_by_configs_runs(tmp_path, tiny_run):
    """tools/run_pipeline.py --pipeline FILE on the tiny preset up to the
    pseudo-masks, in a copy of the tiny run's work folder (its data and
    CAM stages, found done): the new method's row in results.json /
    results.md."""
    import shutil
    pipeline = _user_pipeline(tmp_path)
    work = tmp_path / 'w'
    shutil.copytree(tiny_run[0], work, symlinks=True)
    assert tiny_run[2].returncode == 0, 'the tiny run failed: see above'
    ft = [f'ftlr_r18_gen:{o}' for o in (
        'train_cfg.max_epochs=1', 'param_scheduler.end=1',
        'load_from=work_dirs/cam_r18_gen/epoch_4.pth')]
    ret = _main(['--pipeline', pipeline, '--work-dir', str(work),
                 '--methods', 'ftlr', '--until', 'masks',
                 '--num-train', '8', '--num-val', '4', '--num-aug', '8',
                 '--classes', 'cat', 'sheep', '--cfg-options',
                 'cam_r18_gen:train_cfg.max_epochs=4',
                 'cam_r18_gen:param_scheduler.end=4', *ft])
    logs = ''.join(p.read_text()[-3000:] for p in work.glob('*.log'))
    assert ret.returncode == 0, ret.stdout[-3000:] + ret.stderr + logs
    rows = json.loads((work / 'results.json').read_text())
    assert list(rows) == ['cam', 'ftlr']
    row = rows['ftlr']
    for key in ('seed_miou', 'pseudo_crf_miou'):
        assert 0 <= row[key] <= 100, rows
    assert 0 <= row['seed_threshold'] <= 1
    assert row['pseudo_irn_miou'] is None and row['seg_val_miou'] is None
    text = (work / 'results.md').read_text()
    assert (f'| FT lr 2e-3 | {row["seed_miou"]:.1f} | '
            f'{row["seed_threshold"]:.2f} | {row["pseudo_crf_miou"]:.1f} | '
            '- | - |') in text
    # the classifier ran with its one changed setting, from cam's weights
    ran = Config.fromfile(str(work / 'work_dirs' / 'ftlr_r18_gen' /
                              'ftlr_r18_gen.py'))
    assert ran.optim_wrapper.optimizer.lr == 2e-3
    assert 'Load checkpoint from work_dirs/cam_r18_gen/epoch_4.pth' in \
        (work / 'train_ftlr_r18_gen.log').read_text()
    # its CRF stage took the thresholds of its own seed test
    params = json.loads((work / 'work_dirs' / 'crf_gen_ftlr' / 'masks' /
                         '.mask_params.json').read_text())
    assert params['thresholds_from_seeds']['best_threshold'] == \
        pytest.approx(row['seed_threshold'])
    assert 'no figure' in ret.stdout
