"""Bad inputs give an error naming the file (issue 12), or are accepted
where they are legal (background-only images in a seed run)."""
import os.path as osp
import shutil

import pytest
import torch
from mmengine.registry import init_default_scope

import mmc2am  # noqa: F401  (registers everything, patches loading)
from mmc2am.cam.pseudo_mask import load_label_png, save_label_png
from mmc2am.datasets import PseudoMaskDataset, VOCImageLevelDataset


@pytest.fixture
def root(voc_root, tmp_path):
    """A private copy of the generated data: the tests below break files."""
    dst = tmp_path / 'VOC2012'
    shutil.copytree(voc_root, dst)
    return str(dst)


def _ids(root, split='train'):
    with open(osp.join(root, 'ImageSets', 'Segmentation',
                       f'{split}.txt')) as f:
        return f.read().split()


def _write_ids(path, ids):
    with open(path, 'w') as f:
        f.write(''.join(f'{i}\n' for i in ids))
    return str(path)


def _pseudo_set(root, tmp_path, ids, **kwargs):
    """PseudoMaskDataset on ``ids`` with the true masks as pseudo-masks."""
    mask_dir = tmp_path / 'pseudo'
    mask_dir.mkdir(exist_ok=True)
    for i in ids:
        shutil.copy(osp.join(root, 'SegmentationClassAug', f'{i}.png'),
                    mask_dir / f'{i}.png')
    init_default_scope('mmseg')
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    return PseudoMaskDataset(
        data_root=root, ann_file=_write_ids(tmp_path / 'ids.txt', ids),
        mask_dir=str(mask_dir), pipeline=pipeline, **kwargs), mask_dir


def test_empty_split_file_voc_image_level(root, tmp_path):
    ann = _write_ids(tmp_path / 'empty.txt', [])
    with pytest.raises(ValueError, match='empty split file') as e:
        VOCImageLevelDataset(data_root=root, ann_file=ann, label_cache=None)
    assert ann in str(e.value)


def test_empty_split_file_pseudo_mask(root, tmp_path):
    ann = _write_ids(tmp_path / 'empty.txt', ['\n'])
    with pytest.raises(ValueError, match='empty split file') as e:
        PseudoMaskDataset(data_root=root, ann_file=ann,
                          mask_dir=str(tmp_path))
    assert ann in str(e.value)


def test_background_only_image_in_a_seed_run(root, tmp_path):
    ids = _ids(root)[:3]
    path = osp.join(root, 'SegmentationClass', f'{ids[1]}.png')
    mask = load_label_png(path).copy()
    mask[mask != 255] = 0
    save_label_png(path, mask)
    ann = _write_ids(tmp_path / 'three.txt', ids)
    kwargs = dict(data_root=root, ann_file=ann, label_cache=None,
                  data_prefix=dict(img_path='JPEGImages',
                                   seg_map_path='SegmentationClass'))
    # training refuses it, naming the mask ...
    with pytest.raises(ValueError, match='no foreground class') as e:
        VOCImageLevelDataset(**kwargs)
    assert path in str(e.value)
    # ... a seed (test) run keeps it, with no class
    ds = VOCImageLevelDataset(
        test_mode=True,
        pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')],
        **kwargs)
    assert len(ds) == 3 and ds.get_data_info(1)['gt_label'] == []
    assert ds.get_data_info(0)['gt_label'] != []
    assert ds[1]['data_samples'].gt_label.numel() == 0


def test_mask_value_37_names_the_pixel_value_and_file(root, tmp_path):
    ids = _ids(root)[:2]
    path = osp.join(root, 'SegmentationClassAug', f'{ids[1]}.png')
    mask = load_label_png(path).copy()
    mask[:3, :3] = 37
    save_label_png(path, mask)
    with pytest.raises(ValueError, match=r'pixel value \[37\]') as e:
        VOCImageLevelDataset(data_root=root, label_cache=None,
                             ann_file=_write_ids(tmp_path / 'two.txt', ids))
    assert path in str(e.value) and '36' not in str(e.value)


def test_pseudo_mask_value_37_is_refused_on_load(root, tmp_path):
    ids = _ids(root)[:2]
    ds, mask_dir = _pseudo_set(root, tmp_path, ids)
    assert ds[0]['data_samples'].gt_sem_seg.data.max() <= 255  # loads
    bad = str(mask_dir / f'{ids[1]}.png')
    mask = load_label_png(bad).copy()
    mask[5, 7] = 37
    save_label_png(bad, mask)
    with pytest.raises(ValueError, match=r'pixel value \[37\]') as e:
        ds[1]
    assert bad in str(e.value)
    ds[0]  # the good one still loads


def test_empty_checkpoint_names_the_file(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'')
    with pytest.raises(RuntimeError, match='empty') as e:
        _load_checkpoint(str(path), map_location='cpu')
    assert str(path) in str(e.value)


def test_truncated_checkpoint_names_the_file(tmp_path):
    from mmengine.runner.checkpoint import load_checkpoint
    model = torch.nn.Linear(4, 3)
    path = tmp_path / 'epoch_2.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=2)), path)
    data = path.read_bytes()
    assert load_checkpoint(model, str(path))['meta']['epoch'] == 2
    path.write_bytes(data[:len(data) // 2])  # a save killed half way
    with pytest.raises(RuntimeError, match='truncated') as e:
        load_checkpoint(model, str(path))
    assert str(path) in str(e.value)
