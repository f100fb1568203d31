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
@pytest.mark.parametrize('method', ['cam', 'c2am'])
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
    crf_data = _cfg(crf).test_dataloader.dataset
    assert (crf_data.cam_dir, crf_data.out_dir) == (cam_dir, crf_masks)
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
    if method == 'c2am':  # fine-tunes the plain-CAM classifier
        start = _cfg(cls).load_from
        assert start.startswith(
            rp.work_dir_of(rp.PRESETS[preset]['cam'][0]) + '/')


def test_method_settings_live_in_the_configs():
    import ast
    with open(osp.join(REPO, 'tools', 'run_pipeline.py')) as f:
        tree = ast.parse(f.read())
    doc = tree.body[0].value.value  # the module docstring, as written
    consts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    # the one float is the data generator's --context-prob default
    assert {c for c in consts if isinstance(c, float)} == {0.8}
    for c in consts:
        if isinstance(c, str) and c != doc:
            for setting in ('t_fg', 't_bg', 'bg_thr', 'scales', 'sweep'):
                assert setting not in c, c
    # and the configs hold the methods' values
    for data in ('voc', 'gen'):
        cam, c2am = (_cfg(f'pseudo_mask_{m}_{data}.py').model
                     for m in ('cam', 'c2am'))
        assert (cam.t_fg, cam.t_bg) == (0.30, 0.05)
        assert (c2am.t_fg, c2am.t_bg) == (0.375, 0.10)
    for cam, c2am in (('irn_cam_r50_voc.py', 'irn_c2am_r50_voc.py'),
                      ('irn_cam_r18_gen.py', 'irn_c2am_r18_gen.py')):
        assert _cfg(cam).model.test_cfg.bg_thr == 0.25
        assert _cfg(c2am).model.test_cfg.bg_thr == 0.20


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
