"""EraseObjects (issue 17, form "erase"): what it erases and keeps, its
errors, and cam_r18_gen_erase.py through the real dataset pipeline."""
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner

import mmc2am  # noqa: F401  (registers the transform)
from mmc2am.datasets.transforms import EraseObjects
from mmc2am.utils import find_config
from mmc2am.utils.mask_files import save_label_png

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
H, W = 24, 28
OBJECT = (5, 5, 5)  # BGR of the object, no background pixel has it

# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def _image():
    """A background whose every pixel has its own colour, so that any pixel
    copied from elsewhere changes; an object rectangle of OBJECT."""
    y, x = np.mgrid[:H, :W]
    img = np.stack([y * 9, x * 9, np.full_like(y, 128)], -1).astype(np.uint8)
    img[8:12, 9:15] = OBJECT
    return img


def _mask():
    """Class 3 (bird, index 2) on the object, one ignore pixel elsewhere."""
    mask = np.zeros((H, W), np.uint8)
    mask[8:12, 9:15] = 3
    mask[20, 3] = 255
    return mask


def _within(region, radius):
    """Pixels within Euclidean ``radius`` of ``region``, by brute force."""
    ys, xs = np.nonzero(region)
    y, x = np.mgrid[:H, :W]
    d2 = (y[..., None] - ys) ** 2 + (x[..., None] - xs) ** 2
    return (d2 <= radius * radius).any(-1)


@pytest.fixture
def mask_dir(tmp_path):
    save_label_png(str(tmp_path / 'masks' / 'img_0.png'), _mask())
    return str(tmp_path / 'masks')


def _results(img=None, label=(2, )):
    return dict(img=_image() if img is None else img,
                img_path='data/JPEGImages/img_0.jpg', img_id='img_0',
                gt_label=list(label), img_shape=(H, W), ori_shape=(H, W))


@pytest.mark.parametrize('dilate', [0, 2])
def test_prob_one_erases_the_objects_and_the_ring_only(mask_dir, dilate):
    np.random.seed(0)
    out = EraseObjects(mask_dir, prob=1.0, dilate=dilate)(_results())
    hole = _within(_mask() != 0, dilate)
    assert hole.sum() > (_mask() != 0).sum() or dilate == 0
    changed = (out['img'] != _image()).any(-1)
    np.testing.assert_array_equal(changed, hole)  # ring included
    assert out['img'].shape == (H, W, 3) and out['img'].dtype == np.uint8
    # the fill is the image's own background: copied pixels, no object
    background = {tuple(p) for p in _image()[~hole]}
    assert all(tuple(p) in background for p in out['img'][hole])
    assert out['gt_label'] == [] and out['objects_erased']


def test_inpaint_fill(mask_dir):
    np.random.seed(0)
    out = EraseObjects(mask_dir, prob=1.0, dilate=2, fill='inpaint')(
        _results())
    hole = _within(_mask() != 0, 2)
    np.testing.assert_array_equal(out['img'][~hole], _image()[~hole])
    assert not (out['img'] == OBJECT).all(-1).any()
    assert out['gt_label'] == []


def test_prob_zero_changes_nothing(tmp_path):
    # no mask is even read: the folder does not exist
    res = _results()
    out = EraseObjects(str(tmp_path / 'none'), prob=0.0)(res)
    np.testing.assert_array_equal(out['img'], _image())
    assert out['gt_label'] == [2] and not out['objects_erased']


def test_empty_label_packs_to_a_zero_target(mask_dir):
    init_default_scope('mmpretrain')
    pipe = Compose([dict(type='mmc2am.EraseObjects', mask_dir=mask_dir,
                         prob=1.0),
                    dict(type='PackInputs')])
    np.random.seed(0)
    sample = pipe(_results())['data_samples']
    assert sample.gt_label.numel() == 0 and sample.gt_label.dtype == \
        torch.int64
    from mmc2am.models import CAMDataPreprocessor
    pre = CAMDataPreprocessor(num_classes=20, to_onehot=True)
    other = pipe.transforms[1](dict(_results(), gt_label=[1, 4]))
    target = pre.multi_hot([sample, other['data_samples']])
    assert target[0].sum() == 0 and target[1].nonzero().flatten().tolist() \
        == [1, 4]


def test_random_draws_follow_numpys_seed(mask_dir):
    t = EraseObjects(mask_dir, prob=0.5)

    def run():
        np.random.seed(3)
        outs = [t(_results()) for _ in range(20)]
        return [o['objects_erased'] for o in outs], [o['img'] for o in outs]

    (erased, imgs), (erased2, imgs2) = run(), run()
    assert erased == erased2 and 3 < sum(erased) < 17
    for a, b in zip(imgs, imgs2):
        np.testing.assert_array_equal(a, b)


def test_unfound_class_or_no_context_keeps_the_image(mask_dir, tmp_path):
    np.random.seed(0)
    # class index 7 has no pixel in the mask: its object would stay
    out = EraseObjects(mask_dir, prob=1.0)(_results(label=(2, 7)))
    np.testing.assert_array_equal(out['img'], _image())
    assert out['gt_label'] == [2, 7] and not out['objects_erased']
    # a mask of (almost) only object pixels leaves no context
    full = np.full((H, W), 3, np.uint8)
    full[0, 0] = 0
    save_label_png(str(tmp_path / 'full' / 'img_0.png'), full)
    out = EraseObjects(str(tmp_path / 'full'), prob=1.0)(_results())
    assert not out['objects_erased'] and out['gt_label'] == [2]


def test_missing_bad_or_misaligned_mask_is_named(tmp_path, mask_dir):
    t = EraseObjects(str(tmp_path / 'nowhere'), prob=1.0)
    with pytest.raises(FileNotFoundError,
                       match=r'nowhere/img_0\.png'):
        t(_results())
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'img_0.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match=r'bad/img_0\.png'):
        EraseObjects(str(bad), prob=1.0)(_results())
    small = _image()[:-2]
    with pytest.raises(ValueError, match=r'masks/img_0\.png is 24x28.*22x28'):
        EraseObjects(mask_dir, prob=1.0)(_results(img=small))
    with pytest.raises(ValueError, match='prob'):
        EraseObjects(mask_dir, prob=1.5)
    with pytest.raises(ValueError, match='fill'):
        EraseObjects(mask_dir, fill='blur')


# ---------------------------------------------------------------------- #
# the config
# ---------------------------------------------------------------------- #
def _cfg(name):
    return Config.fromfile(find_config(name))


def test_config_differs_from_the_control_by_the_transform_only():
    cfg, control = _cfg('cam_r18_gen_erase.py'), _cfg('cam_r18_gen_ft.py')
    pipe = cfg.train_dataloader.dataset.pipeline
    assert pipe[0].type == 'LoadImageFromFile'
    erase = pipe[1]
    assert erase == dict(type='EraseObjects',
                         mask_dir='work_dirs/crf_gen_cam/masks',
                         prob=0.4, dilate=3, fill='copy')
    assert [pipe[0], *pipe[2:]] == control.train_dataloader.dataset.pipeline
    a, b = cfg.to_dict(), control.to_dict()
    for d in (a, b):
        d['train_dataloader']['dataset'].pop('pipeline')
        d.pop('train_pipeline')
    a.pop('erase')
    assert a == b
    # the pipeline builds through the registry in the config's scope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        built = Compose(pipe)
    assert type(built.transforms[1]) is EraseObjects
    assert built.transforms[1].mask_dir == erase.mask_dir


def on_generated_data(cfg, voc_root: str, tmp_path):
    """A generated-data config pointed at the test's data (every loader's
    root, no label cache), working in ``tmp_path / 'work'``, from random
    init (no start checkpoint)."""
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = None
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = voc_root
        cfg[key].dataset.label_cache = None
    return cfg


def test_one_training_iteration_through_the_dataset(voc_root, tmp_path):
    masks = tmp_path / 'masks'
    # the generator's masks stand in for the CRF pseudo-masks
    shutil.copytree(osp.join(voc_root, 'SegmentationClassAug'), masks)
    cfg = on_generated_data(_cfg('cam_r18_gen_erase.py'), voc_root, tmp_path)
    cfg.train_dataloader.dataset.pipeline[1].mask_dir = str(masks)
    cfg.train_dataloader.dataset.pipeline[1].prob = 0.5
    cfg.train_dataloader.dataset.indices = 8
    cfg.train_dataloader.batch_size = 8
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler.end = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=0)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    dataset = runner.train_dataloader.dataset
    np.random.seed(1)
    labels = [dataset[i]['data_samples'].gt_label.numel() for i in range(8)]
    assert 0 in labels and any(labels)  # erased and kept images
    assert dataset[0]['inputs'].shape == (3, 96, 96)
    runner.train()
    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss)
