"""tools/pipeline_figure.py: the figure of a run_pipeline.py work folder.

The work folder here is made without running the pipeline: the tiny
generated data, random-init checkpoints of the classifiers and segmenters,
and the seed stage's metrics and sweep files, where run_pipeline.py leaves
them (tests/test_run_pipeline.py draws the figure of a real tiny run).
"""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmc2am.pipeline import Methods, work_dir_of
from mmc2am.utils import find_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def _module(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pf = _module('pipeline_figure')
GEN = Methods('gen')


def _save(model, path, meta):
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    with open(osp.join(osp.dirname(path), 'last_checkpoint'), 'w') as f:
        f.write(path)


def _fake_run(work, voc_root, methods, refine='crf'):
    """The files pipeline_figure reads, as run_pipeline.py writes them."""
    from mmpretrain.registry import MODELS as CLS_MODELS
    from mmseg.datasets import PascalVOCDataset
    from mmseg.registry import MODELS as SEG_MODELS

    data = osp.join(work, GEN.data_root)
    os.makedirs(osp.dirname(data), exist_ok=True)
    os.symlink(voc_root, data)
    voc = PascalVOCDataset.METAINFO
    torch.manual_seed(0)
    for i, method in enumerate(methods):
        cls = GEN.config(method, 'classifier')
        cls_dir = osp.join(work, work_dir_of(cls))
        init_default_scope('mmc2am')
        model = CLS_MODELS.build(Config.fromfile(find_config(cls)).model)
        _save(model, osp.join(cls_dir, 'epoch_1.pth'),
              dict(dataset_meta=dict(classes=voc['classes'][1:])))
        best = 0.3 + 0.05 * i
        with open(osp.join(cls_dir, 'test_metrics.json'), 'w') as f:
            json.dump(dict(mIoU=20.0, best_threshold=best), f)
        thresholds = [round(t * 0.05, 2) for t in range(20)]
        sweep = dict(thresholds=thresholds,
                     mIoU=[20 - 40 * (t - best)**2 for t in thresholds],
                     best_threshold=best, best_mIoU=20.0)
        os.makedirs(osp.join(cls_dir, '20260101_000000'))
        with open(osp.join(cls_dir, '20260101_000000', 'seed_sweep.json'),
                  'w') as f:
            json.dump(sweep, f)
        seg_cfg = Config.fromfile(find_config(GEN.segmenter))
        init_default_scope('mmseg')
        seg = SEG_MODELS.build(seg_cfg.model)
        _save(seg, osp.join(work, 'work_dirs', f'seg_{method}_{refine}',
                            'iter_2.pth'),
              dict(dataset_meta=dict(classes=voc['classes'],
                                     palette=voc['palette'])))


def test_missing_files_are_named_with_their_stage(tmp_path, voc_root):
    with pytest.raises(FileNotFoundError, match='val.txt.*data stage'):
        pf.pipeline_figure(str(tmp_path), ['cam'])
    data = tmp_path / GEN.data_root
    data.parent.mkdir(parents=True)
    data.symlink_to(voc_root)
    with pytest.raises(FileNotFoundError,
                       match=r'cam_r18_gen/test_metrics.json not found: .*'
                       r"'test cam_r18_gen'"):
        pf.pipeline_figure(str(tmp_path), ['cam'])
    seeds = tmp_path / 'work_dirs' / 'cam_r18_gen'
    seeds.mkdir(parents=True)
    (seeds / 'test_metrics.json').write_text('{"best_threshold": 0.5}')
    with pytest.raises(FileNotFoundError, match='seed_sweep.json'):
        pf.pipeline_figure(str(tmp_path), ['cam'])
    (seeds / '20260101_000000').mkdir()
    (seeds / '20260101_000000' / 'seed_sweep.json').write_text('{}')
    with pytest.raises(FileNotFoundError,
                       match=r"last_checkpoint not found: .*'train "
                       r"cam_r18_gen'"):
        pf.pipeline_figure(str(tmp_path), ['cam'])
    (seeds / 'last_checkpoint').write_text(str(seeds / 'epoch_15.pth'))
    with pytest.raises(FileNotFoundError,
                       match=r"epoch_15.pth not found: .*'train cam_r18_gen'"):
        pf.pipeline_figure(str(tmp_path), ['cam'])
    (seeds / 'epoch_15.pth').write_bytes(b'')
    with pytest.raises(FileNotFoundError,
                       match=r"seg_cam_irn/last_checkpoint not found: .*"
                       r"'train deeplabv3plus_r18w32-d16_gen_pseudo'"):
        pf.pipeline_figure(str(tmp_path), ['cam'], refine='irn')
    assert not (tmp_path / 'figure.png').exists()


def test_figure_of_a_work_folder(tmp_path, voc_root, capsys):
    from PIL import Image
    _fake_run(str(tmp_path), voc_root, ['cam', 'c2am'])
    cwd = os.getcwd()
    out = str(tmp_path / 'fig' / 'figure.png')
    path = pf.main([str(tmp_path), '--methods', 'cam', 'c2am',
                    '--num-images', '2', '--out', out])
    assert path == out and capsys.readouterr().out.strip().endswith(out)
    assert os.getcwd() == cwd
    with Image.open(out) as img:
        assert img.size == pf.figure_size(2, 2)
        pixels = np.asarray(img.convert('RGB'))
    assert pixels.std() > 10  # something drawn
    # the default path; one block is narrower than two
    assert pf.pipeline_figure(str(tmp_path), ['cam'], num_images=1) == \
        str(tmp_path / 'figure.png')
    with Image.open(tmp_path / 'figure.png') as img:
        assert img.size == pf.figure_size(1, 1)
    assert pf.figure_size(1, 1)[0] < pf.figure_size(1, 2)[0]
    assert pf.figure_size(1, 1)[1] < pf.figure_size(2, 1)[1]
    # no temporary files left beside the figures
    assert sorted(os.listdir(tmp_path / 'fig')) == ['figure.png']
    # the config a stage ran with is the copy in its folder; a checkpoint
    # that does not fit it is refused, not loaded into random weights
    seg = GEN.segmenter
    (tmp_path / 'work_dirs' / 'seg_cam_crf' / seg).write_text(
        f'_base_ = {find_config(seg)!r}\n'
        'model = dict(decode_head=dict(channels=64))\n')
    with pytest.raises(ValueError, match='iter_2.pth does not fit'):
        pf.pipeline_figure(str(tmp_path), ['cam'], num_images=1)


def test_images_are_the_first_val_images_with_an_object(voc_root):
    from mmc2am.utils.mask_files import load_label_png
    with open(osp.join(voc_root, 'ImageSets/Segmentation/val.txt')) as f:
        ids = [line.strip() for line in f if line.strip()]
    with_object = [
        i for i in ids if np.isin(load_label_png(osp.join(
            voc_root, 'SegmentationClass', i + '.png')), range(1, 255)).any()]
    images = pf._val_images(voc_root, find_config('cam_r18_gen.py'), 3)
    assert [im['img_id'] for im in images] == with_object[:3]
    for im in images:
        ids, areas = np.unique(im['gt'][(im['gt'] > 0) & (im['gt'] < 255)],
                               return_counts=True)
        assert im['largest'] == ids[np.argmax(areas)] - 1
        assert im['largest'] in im['labels']
