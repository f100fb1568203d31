"""The intervention configs of issue 26 (cam_r18_gen_paste.py, its CAM
files, crf_gen_paste.py, irn_r18_gen_paste.py, cam_r18_gen_erase_paste.py;
the same four for erase and wood) and the ``paste``, ``erase`` and ``wood``
methods of ``tools/run_pipeline.py --methods`` (configs/pipelines/gen.py):
each method passes the stage-chain checks that every method of
tests/test_run_pipeline.py passes, and the transforms sit where the masks
and the bank's objects align with the stored images."""
import os.path as osp

import pytest
from mmengine.config import Config
from test_erase_objects import on_generated_data
from test_run_pipeline import PRESETS
from test_run_pipeline import test_stages_chain_through_default_folders as _chain

from mmc2am.pipeline import work_dir_of
from mmc2am.registry import TRANSFORMS
from mmc2am.utils import find_config


def _cfg(name):
    return Config.fromfile(find_config(name), import_custom_modules=False)


def _pipeline(name):
    return _cfg(name).train_dataloader.dataset.pipeline


# the issue-26 methods of tools/run_pipeline.py --methods: the transform
# that reads CAM's masks, second in the training pipeline
INTERVENTION_METHODS = dict(
    paste='PasteObjects', erase='EraseObjects', wood='EraseObjects')


@pytest.mark.parametrize('method', sorted(INTERVENTION_METHODS))
@pytest.mark.parametrize('refine', ['crf', 'irn'])
def test_intervention_methods_chain_through_default_folders(method, refine):
    _chain('gen', method, refine)


@pytest.mark.parametrize('method', sorted(INTERVENTION_METHODS))
def test_intervention_method_waits_for_and_reads_cams_masks(method):
    gen = PRESETS['gen']
    assert gen.start(method) == 'cam' and gen.trains(method)
    assert [gen.config(method, f) for f in (
        'classifier', 'cams', 'crf', 'irn')] == [
        f'cam_r18_gen_{method}.py', f'cam_r18_gen_{method}_trainaug.py',
        f'crf_gen_{method}.py', f'irn_r18_gen_{method}.py']
    for refine in ('crf', 'irn'):
        train = gen.stages(method, refine)[0]
        masks = gen.masks_dir('cam', refine)
        key = 'train_dataloader.dataset.pipeline.1.mask_dir'
        assert train.opts == (f'{key}={masks}', )
        # the option reaches the transform's mask_dir
        cfg = _cfg(f'cam_r18_gen_{method}.py')
        cfg.merge_from_dict({key: masks})
        assert cfg.train_dataloader.dataset.pipeline[1].type == \
            INTERVENTION_METHODS[method]
        assert cfg.train_dataloader.dataset.pipeline[1].mask_dir == masks
        # the training waits for CAM's last mask stage
        nodes, deps = gen.graph(['cam', method], refine)
        assert ('cam', gen.masks_stage('cam', refine)) in deps[method, 0]
    # the config's own default: CAM's CRF masks
    assert _pipeline(f'cam_r18_gen_{method}.py')[1].mask_dir == osp.join(
        work_dir_of('crf_gen_cam.py'), 'masks')
    # its CAM files: the same model, train_aug's images, CAMFileHook
    aug, cls = _cfg(f'cam_r18_gen_{method}_trainaug.py'), _cfg(
        f'cam_r18_gen_{method}.py')
    assert aug.model == cls.model
    assert aug.default_hooks.cam_file.type == 'CAMFileHook'
    assert aug.test_dataloader == _cfg(
        'cam_r18_gen_trainaug.py').test_dataloader


def test_paste_is_the_control_plus_paste_objects():
    control = _pipeline('cam_r18_gen_ft.py')
    paste = _pipeline('cam_r18_gen_paste.py')
    assert [paste[0], *paste[2:]] == control
    t = paste[1]
    assert t.type == 'PasteObjects' and 'PasteObjects' in TRANSFORMS
    assert t.prob == 0.5  # CDA: half of each batch
    data = _cfg('cam_r18_gen_paste.py').train_dataloader.dataset.data_root
    assert t.img_dir == osp.join(data, 'JPEGImages')
    # the bank holds train_aug's objects only (never val's, also from the
    # ground truth of SegmentationClassAug)
    assert t.ann_file == osp.join(data,
                                  'ImageSets/Segmentation/trainaug.txt')
    ft, pc = _cfg('cam_r18_gen_ft.py'), _cfg('cam_r18_gen_paste.py')
    for key in ('model', 'optim_wrapper', 'param_scheduler', 'train_cfg',
                'load_from', 'test_dataloader', 'test_evaluator'):
        assert pc[key] == ft[key], key
    # its CAM-file config: test_intervention_method_waits_for_and_reads_cams_masks


def test_erase_paste_erases_then_pastes():
    erase = _pipeline('cam_r18_gen_erase.py')
    paste = _pipeline('cam_r18_gen_paste.py')
    both = _pipeline('cam_r18_gen_erase_paste.py')
    assert [t.type for t in both[:3]] == [
        'LoadImageFromFile', 'EraseObjects', 'PasteObjects']
    # each transform as its own form has it (the paste dict is a copy)
    assert both[1] == erase[1] and both[2] == paste[1]
    assert both[3:] == erase[2:] == _pipeline('cam_r18_gen_ft.py')[1:]


@pytest.mark.parametrize('method', sorted(INTERVENTION_METHODS))
def test_crf_and_irn_of_the_method_read_its_stages(method):
    crf = _cfg(f'crf_gen_{method}.py')
    cam = _cfg('crf_gen_cam.py')
    assert crf.model.thresholds_from_seeds.metrics == \
        f'work_dirs/cam_r18_gen_{method}/test_metrics.json'
    assert crf.test_dataloader.dataset.cam_dir == \
        f'work_dirs/cam_r18_gen_{method}_trainaug/cams'
    # crf_gen_cam.py's rule otherwise
    assert crf.model.thresholds_from_seeds.fg == cam.model.\
        thresholds_from_seeds.fg
    assert crf.model.thresholds_from_seeds.bg == cam.model.\
        thresholds_from_seeds.bg
    irn = _cfg(f'irn_r18_gen_{method}.py')
    assert irn.train_dataloader.dataset.label_dir == \
        f'work_dirs/crf_gen_{method}/masks'
    assert irn.test_dataloader.dataset.cam_dir == \
        f'work_dirs/cam_r18_gen_{method}_trainaug/cams'


def test_erase_paste_through_the_dataset(voc_root, tmp_path):
    """cam_r18_gen_erase_paste.py's training set on generated data (the
    generator's masks stand in for the CRF pseudo-masks): images are
    erased (empty label), pasted (one class more, not one they had) or
    both (only the pasted class)."""
    import numpy as np
    from mmengine.runner import Runner

    import mmc2am  # noqa: F401  (registers the transforms)
    cfg = on_generated_data(_cfg('cam_r18_gen_erase_paste.py'), voc_root,
                            tmp_path)
    pipe = cfg.train_dataloader.dataset.pipeline
    gt = osp.join(voc_root, 'SegmentationClassAug')
    pipe[1].mask_dir = pipe[2].mask_dir = gt
    pipe[2].img_dir = osp.join(voc_root, 'JPEGImages')
    pipe[2].ann_file = osp.join(voc_root,
                                'ImageSets/Segmentation/trainaug.txt')
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    dataset = runner.train_dataloader.dataset
    np.random.seed(0)
    kinds = set()
    for i in range(24):
        before = set(np.asarray(dataset.get_data_info(i)['gt_label']).tolist())
        item = dataset[i]
        after = set(item['data_samples'].gt_label.tolist())
        assert item['inputs'].shape == (3, 96, 96)
        if after == before:
            kinds.add('kept')
        elif not after:
            kinds.add('erased')
        elif after > before and len(after - before) == 1:
            kinds.add('pasted')
        else:  # erased, then an object pasted: its only label (of any
            # class: the erased image has none)
            assert len(after) == 1, (before, after)
            kinds.add('both')
    assert {'erased', 'pasted', 'kept'} <= kinds, kinds
