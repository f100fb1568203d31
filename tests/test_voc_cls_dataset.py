"""VOCImageLevelDataset: labels from masks / label files, cache, errors, pipelines."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS
from PIL import Image

import mmc2am  # noqa: F401
from mmc2am.datasets import VOCImageLevelDataset
from mmc2am.utils import find_config


def _truth(root, split):
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    return {i: [c - 1 for c in meta['images'][i]['labels']]
            for i in meta['splits'][split]}


@pytest.fixture
def root(voc_root, tmp_path):
    """A private copy: tests below write caches and break files."""
    dst = tmp_path / 'VOC2012'
    shutil.copytree(voc_root, dst)
    return str(dst)


def _dataset(root, **kwargs):
    kwargs.setdefault('ann_file', 'ImageSets/Segmentation/trainaug.txt')
    return VOCImageLevelDataset(data_root=root, **kwargs)


def test_labels_from_masks(root):
    ds = _dataset(root)
    truth = _truth(root, 'trainaug')
    assert len(ds) == len(truth)
    assert ds.metainfo['classes'][0] == 'aeroplane'
    assert len(ds.metainfo['classes']) == 20
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['gt_label'] == truth[info['img_id']]
        assert ds.get_cat_ids(i) == truth[info['img_id']]
        assert info['img_path'] == osp.join(root, 'JPEGImages',
                                            info['img_id'] + '.jpg')
        assert info['seg_map_path'] == osp.join(
            root, 'SegmentationClassAug', info['img_id'] + '.png')


def test_label_files_give_the_same_labels(root):
    truth = _truth(root, 'train')
    # IRN's cls_labels.npy: {int id without '_': 20-dim vector}; the generated
    # ids are not numeric, so string keys (also accepted) are used here.
    vectors = {}
    for img_id, labels in truth.items():
        v = np.zeros(20, np.float32)
        v[labels] = 1
        vectors[img_id] = v
    np.save(osp.join(root, 'cls_labels.npy'), vectors)
    with open(osp.join(root, 'cls_labels.json'), 'w') as f:
        json.dump(truth, f)
    for label_file in ('cls_labels.npy', 'cls_labels.json'):
        ds = _dataset(root, ann_file='ImageSets/Segmentation/train.txt',
                      label_file=label_file)
        assert {d['img_id']: d['gt_label'] for d in ds} == truth


def test_irn_integer_keys(root):
    # a VOC-like id '2007_000032' is keyed 2007000032 in IRN's file
    src = _truth(root, 'train')
    first = next(iter(src))
    for ext in ('.jpg', ):
        shutil.copy(osp.join(root, 'JPEGImages', first + ext),
                    osp.join(root, 'JPEGImages', '2007_000032' + ext))
    with open(osp.join(root, 'one.txt'), 'w') as f:
        f.write('2007_000032\n')
    v = np.zeros(20, np.float32)
    v[[3, 14]] = 1
    np.save(osp.join(root, 'irn.npy'), {2007000032: v})
    ds = _dataset(root, ann_file='one.txt', label_file='irn.npy')
    assert ds.get_data_info(0)['gt_label'] == [3, 14]


def test_label_cache_is_used_and_invalidated(root, monkeypatch):
    ds = _dataset(root)
    cache = osp.join(root, 'ImageSets', 'Segmentation',
                     'trainaug.SegmentationClassAug.labels.json')
    assert osp.isfile(cache)
    labels = [d['gt_label'] for d in ds]

    calls = []
    orig = VOCImageLevelDataset._labels_from_mask

    def counting(self, path):
        calls.append(path)
        return orig(self, path)

    monkeypatch.setattr(VOCImageLevelDataset, '_labels_from_mask', counting)
    assert [d['gt_label'] for d in _dataset(root)] == labels
    assert calls == []  # served from the cache

    # a changed mask invalidates the cache
    first = ds.get_data_info(0)
    mask_path = first['seg_map_path']
    mask = Image.open(mask_path)
    arr = np.array(mask)
    arr[:4, :4] = 20  # add tvmonitor
    out = Image.fromarray(arr, mode='P')
    out.putpalette(mask.getpalette())
    out.save(mask_path)
    st = os.stat(mask_path)
    os.utime(mask_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    new = _dataset(root)
    assert len(calls) == len(ds)
    assert new.get_data_info(0)['gt_label'] == sorted(
        set(first['gt_label']) | {19})


def _write_mask(path, value):
    mask = Image.open(path)
    arr = np.array(mask)
    arr[:] = value
    out = Image.fromarray(arr, mode='P')
    out.putpalette(mask.getpalette())
    out.save(path)


def test_mask_without_foreground_is_named(root):
    ds = _dataset(root, label_cache=None)
    path = ds.get_data_info(3)['seg_map_path']
    _write_mask(path, 0)
    with pytest.raises(ValueError, match='no foreground class') as e:
        _dataset(root, label_cache=None)
    assert path in str(e.value)


def test_class_out_of_range_is_named(root):
    ds = _dataset(root, label_cache=None)
    path = ds.get_data_info(2)['seg_map_path']
    _write_mask(path, 21)
    with pytest.raises(ValueError, match='outside the 20 classes') as e:
        _dataset(root, label_cache=None)
    assert path in str(e.value)


def test_missing_files_are_named(root):
    ds = _dataset(root, label_cache=None)
    mask = ds.get_data_info(1)['seg_map_path']
    os.remove(mask)
    with pytest.raises(FileNotFoundError, match=mask):
        _dataset(root, label_cache=None)
    img = ds.get_data_info(0)['img_path']
    os.remove(img)
    with pytest.raises(FileNotFoundError, match=img):
        _dataset(root, label_cache=None)


def test_config_pipelines(voc_root):
    """The generated-data train pipeline crops; the seed pipeline packs masks."""
    cfg = Config.fromfile(find_config('cam_r18_gen.py'))
    init_default_scope(cfg.default_scope)
    train = cfg.train_dataloader.dataset
    train.update(data_root=voc_root, label_cache=None)
    ds = DATASETS.build(train)
    for i in range(4):
        out = ds[i]
        assert out['inputs'].shape == (3, 96, 96)
        assert out['data_samples'].gt_label.tolist() == ds.get_cat_ids(i)

    test = cfg.test_dataloader.dataset
    test.update(data_root=voc_root, label_cache=None)
    ds = DATASETS.build(test)
    out = ds[0]
    info = ds.get_data_info(0)
    gt = out['data_samples'].gt_seg_map
    expected = np.array(Image.open(info['seg_map_path']))
    assert np.array_equal(np.asarray(gt), expected)
    assert out['data_samples'].img_id == info['img_id']
    assert out['inputs'].shape[1:] == expected.shape


class _MakesAFile:
    """A pickle payload that creates ``path`` when unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_crafted_label_file_runs_nothing(root, tmp_path):
    import pickle

    from mmc2am.datasets import load_irn_cls_labels

    crafted = osp.join(root, 'cls_labels.npy')
    np.save(crafted, np.array(_MakesAFile(str(tmp_path / 'pwned')),
                              dtype=object), allow_pickle=True)
    # the payload is real: numpy's own loader would create the file
    np.load(crafted, allow_pickle=True)
    assert (tmp_path / 'pwned').exists()
    (tmp_path / 'pwned').unlink()

    with pytest.raises(pickle.UnpicklingError, match='refused global') as e:
        _dataset(root, ann_file='ImageSets/Segmentation/train.txt',
                 label_file='cls_labels.npy')
    assert crafted in str(e.value) and 'open' in str(e.value)
    assert not (tmp_path / 'pwned').exists()
    # a dict hiding the payload among real entries is refused the same way
    np.save(crafted, {0: np.zeros(20, np.float32),
                      1: _MakesAFile(str(tmp_path / 'pwned'))})
    with pytest.raises(pickle.UnpicklingError, match=crafted):
        load_irn_cls_labels(crafted)
    assert not (tmp_path / 'pwned').exists()
    # not a .npy at all / not a dict
    with open(crafted, 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(ValueError, match='not a .npy label file'):
        load_irn_cls_labels(crafted)
    np.save(crafted, np.zeros((3, 20)))
    with pytest.raises(ValueError, match=r'expected a dict'):
        load_irn_cls_labels(crafted)


def _irn_npy(path, table, numpy1=False):
    """``np.save(path, table)`` as IRN's make_cls_labels.py does; with
    ``numpy1`` the pickle names ``numpy.core`` as numpy 1.x wrote it
    (protocol 3, text GLOBAL opcodes, so the module path is plain text)."""
    import pickle

    arr = np.empty((), dtype=object)
    arr[()] = table
    payload = pickle.dumps(arr, protocol=3)
    if numpy1:
        payload = payload.replace(b'numpy._core.multiarray\n',
                                  b'numpy.core.multiarray\n')
        assert b'numpy.core.multiarray\n' in payload
    with open(path, 'wb') as f:
        np.lib.format.write_array_header_1_0(
            f, dict(descr='|O', fortran_order=False, shape=()))
        f.write(payload)


def test_irn_real_format_loads(root):
    """IRN keys by np.int32 ids (np.loadtxt(dtype=np.int32) of the split,
    ``2007_000032`` -> 2007000032) and stores float32 (20,) 0/1 vectors."""
    from mmc2am.datasets import load_irn_cls_labels

    with open(osp.join(root, 'ImageSets/Segmentation/train.txt')) as f:
        first = f.readline().strip()
    voc_ids = ['2007_000032', '2007_000039', '2011_003276']
    for i in voc_ids:
        shutil.copy(osp.join(root, 'JPEGImages', first + '.jpg'),
                    osp.join(root, 'JPEGImages', i + '.jpg'))
    with open(osp.join(root, 'three.txt'), 'w') as f:
        f.write('\n'.join(voc_ids) + '\n')
    names = np.array([int(i.replace('_', '')) for i in voc_ids], np.int32)
    truth = [[0, 14], [19], [6, 8, 14]]
    table = {}
    for name, labels in zip(names, truth):  # np.int32 keys, as IRN's
        v = np.zeros(20, np.float32)
        v[labels] = 1.0
        table[name] = v
    for numpy1 in (False, True):
        path = osp.join(root, 'cls_labels.npy')
        if numpy1:
            _irn_npy(path, table, numpy1=True)
        else:
            np.save(path, table)
        loaded = load_irn_cls_labels(path)
        assert sorted(loaded) == sorted(int(n) for n in names)
        assert all(type(k) is int for k in loaded)
        np.testing.assert_array_equal(loaded[2007000039],
                                      table[names[1]])
        assert loaded[2007000039].dtype == np.float32
        ds = _dataset(root, ann_file='three.txt', label_file=path)
        assert [d['gt_label'] for d in ds] == truth
