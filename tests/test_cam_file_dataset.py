"""CAMFileDataset (the mask stages' data) and its bad inputs, each an error
naming the file (issue 11, acceptance 5)."""
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.registry import init_default_scope

import mmc2am  # noqa: F401  (registers the dataset and transforms)
from mmc2am.datasets import CAMFileDataset
from mmc2am.utils.mask_files import load_label_png, save_label_png

FIX = osp.join(osp.dirname(__file__), 'data', 'mask_stages')
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='PackCAMInputs'),
]


def _ids():
    with open(osp.join(FIX, 'ids.txt')) as f:
        return f.read().split()


@pytest.fixture
def root(voc_root, tmp_path):
    """Private copies of the 9 images, their masks and CAM files."""
    dst = tmp_path / 'VOC2012'
    for sub in ('JPEGImages', 'SegmentationClass'):
        (dst / sub).mkdir(parents=True)
    for i in _ids():
        shutil.copy(osp.join(voc_root, 'JPEGImages', f'{i}.jpg'),
                    dst / 'JPEGImages')
        gt = osp.join(voc_root, 'SegmentationClass', f'{i}.png')
        if osp.exists(gt):
            shutil.copy(gt, dst / 'SegmentationClass')
    shutil.copytree(osp.join(FIX, 'cams'), tmp_path / 'cams')
    return dst


def build(root, tmp_path, **kwargs):
    init_default_scope('mmc2am')
    return CAMFileDataset(
        data_root=str(root), ann_file=osp.join(FIX, 'ids.txt'),
        cam_dir=str(tmp_path / 'cams'), pipeline=PIPELINE, **kwargs)


def test_image_cam_and_mask_where_there_is_one(root, tmp_path):
    ds = build(root, tmp_path)
    assert len(ds) == 9
    first, aug = ds[0], ds[8]  # a train image, an aug image
    sample = first['data_samples']
    assert first['inputs'].shape == (3, 64, 64)
    assert first['inputs'].dtype.is_floating_point is False
    k = len(sample.cam_keys)
    assert sample.cam.shape == (k, 16, 16)
    assert sample.high_res_cam.shape == (k, 64, 64)
    assert sample.gt_sem_seg.data.shape == (1, 64, 64)
    # no mask folder given (MaskFileHook gives it): no mask file named
    assert 'mask_path' not in sample and 'mask_done' not in sample
    # train_aug ids outside train have no official mask: not scored
    assert 'gt_sem_seg' not in aug['data_samples']
    assert aug['data_samples'].seg_map_path is None
    ds.mask_out_dir = str(tmp_path / 'masks')  # as MaskFileHook does
    sample = ds[0]['data_samples']
    assert sample.mask_path == str(tmp_path / 'masks' / f'{_ids()[0]}.png')
    assert not sample.mask_done and 'cam' in sample
    # a finished mask: the CAMs are not even read
    save_label_png(sample.mask_path, np.zeros((64, 64), np.uint8))
    again = ds[0]['data_samples']
    assert again.mask_done and 'cam' not in again


def test_missing_cam_files_are_counted_and_named(root, tmp_path):
    for i in _ids()[:2]:
        (tmp_path / 'cams' / f'{i}.npz').unlink()
    with pytest.raises(FileNotFoundError,
                       match=f'2 of 9 .* {_ids()[0]}, {_ids()[1]}'):
        build(root, tmp_path)
    with pytest.raises(ValueError, match='cam_dir'):
        CAMFileDataset(data_root=str(root), ann_file=osp.join(FIX, 'ids.txt'),
                       pipeline=PIPELINE)


def test_out_dir_is_the_hooks_option(root, tmp_path):
    """The former dataset option names the one that replaced it."""
    with pytest.raises(ValueError, match='default_hooks.mask_file.out_dir'):
        build(root, tmp_path, out_dir=str(tmp_path / 'masks'))


def test_image_that_does_not_decode(root, tmp_path):
    ds = build(root, tmp_path)
    for content in (b'not a jpeg at all', b''):
        bad = root / 'JPEGImages' / f'{_ids()[1]}.jpg'
        bad.write_bytes(content)
        with pytest.raises(ValueError, match='not a readable image') as e:
            ds[1]
        assert str(bad) in str(e.value)
    ds[0]  # the others still load


def test_corrupt_cam_file(root, tmp_path):
    ds = build(root, tmp_path)
    bad = tmp_path / 'cams' / f'{_ids()[2]}.npz'
    bad.write_bytes(bad.read_bytes()[:100])  # a truncated copy
    with pytest.raises(ValueError, match='not a readable CAM file') as e:
        ds[2]
    assert str(bad) in str(e.value)


def test_ground_truth_value_outside_the_classes(root, tmp_path):
    ds = build(root, tmp_path)
    bad = root / 'SegmentationClass' / f'{_ids()[3]}.png'
    gt = load_label_png(str(bad)).copy()
    gt[2, 3] = 37
    save_label_png(str(bad), gt)
    with pytest.raises(ValueError, match=r'pixel value \[37\]') as e:
        ds[3]
    assert str(bad) in str(e.value)


def test_corrupt_cam_file_through_the_stage(root, tmp_path):
    """What a user sees from tools/test.py: the error names the file."""
    from test_mask_stages import run_test_tool, stage_args

    bad = tmp_path / 'cams' / f'{_ids()[0]}.npz'
    bad.write_bytes(b'PK\x03\x04 torn')
    args = stage_args('crf_cam', str(root), tmp_path / 'work',
                      f'test_dataloader.dataset.cam_dir={tmp_path}/cams')
    with pytest.raises(ValueError, match='not a readable CAM file') as e:
        run_test_tool(args)
    assert str(bad) in str(e.value)
