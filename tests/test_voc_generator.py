"""Tests of the generated VOC2012-layout dataset, on the files it writes."""
import contextlib
import json
import os
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from mmc2am.pipeline.launcher import ForkedRun
from mmc2am.testing import VOC_CLASSES, VOC_PALETTE, generate_voc_dataset, voc_generator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read_split(root, name):
    with open(os.path.join(root, 'ImageSets', 'Segmentation', name + '.txt')) as f:
        return f.read().split()


def _read_meta(root):
    with open(os.path.join(root, 'meta.json')) as f:
        return json.load(f)


def _all_files(root):
    """Relative path -> bytes of every file under ``root``."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


@pytest.fixture
def no_fsync(monkeypatch):
    """Plain writes instead of fsync'ed atomic ones, for the big statistical
    test only: hundreds of fsyncs would dominate its run time."""
    @contextlib.contextmanager
    def plain_open(path, mode='wb'):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, mode) as f:
            yield f

    monkeypatch.setattr(voc_generator, 'atomic_open', plain_open)


def test_splits_and_layout(voc_root):
    train, val = _read_split(voc_root, 'train'), _read_split(voc_root, 'val')
    aug, trainaug = _read_split(voc_root, 'aug'), _read_split(voc_root, 'trainaug')
    assert (len(train), len(val), len(aug), len(trainaug)) == (24, 12, 24, 48)
    assert train == sorted(train) and train[0] == 'gen_000000'
    assert set(train) <= set(trainaug)
    assert not set(val) & set(trainaug)
    assert set(trainaug) == set(train) | set(aug)
    everything = train + val + aug
    assert len(set(everything)) == 60

    def listed(folder, ext):
        return sorted(n[:-len(ext)] for n in os.listdir(os.path.join(voc_root, folder))
                      if n.endswith(ext))

    assert listed('JPEGImages', '.jpg') == sorted(everything)
    assert listed('SegmentationClassAug', '.png') == sorted(everything)
    assert listed('SegmentationClass', '.png') == sorted(train + val)
    assert listed('Annotations', '.xml') == sorted(everything)
    # No temporary files of the atomic writes are left behind.
    assert not [n for n in os.listdir(os.path.join(voc_root, 'JPEGImages'))
                if n.startswith('.')]

    meta = _read_meta(voc_root)
    assert meta['seed'] == 0 and meta['img_size'] == [64, 64]
    assert meta['context_prob'] == 0.8
    assert meta['splits']['trainaug'] == trainaug
    assert meta['classes'] == list(VOC_CLASSES)
    # the name the data has always recorded, wherever the module lives, so
    # the same arguments keep giving byte-identical files
    assert meta['generator'] == 'mmc2am.datasets.voc_generator'
    contexts = [tuple(c['context']['color']) for c in meta['class_info'].values()]
    assert len(set(contexts)) == 20


def test_masks_match_labels(voc_root):
    meta = _read_meta(voc_root)
    train_val = set(meta['splits']['train']) | set(meta['splits']['val'])
    seen = set()
    for img_id, truth in meta['images'].items():
        img = Image.open(os.path.join(voc_root, 'JPEGImages', img_id + '.jpg'))
        assert img.mode == 'RGB' and img.size == (64, 64)
        aug_path = os.path.join(voc_root, 'SegmentationClassAug', img_id + '.png')
        mask_img = Image.open(aug_path)
        assert mask_img.mode == 'P'
        palette = np.asarray(mask_img.getpalette()[:256 * 3]).reshape(-1, 3)
        np.testing.assert_array_equal(palette, VOC_PALETTE)
        mask = np.asarray(mask_img)
        assert mask.shape == (64, 64)
        labels = sorted(int(c) for c in np.unique(mask) if c != 0)
        assert labels == truth['labels'], img_id
        assert set(labels) <= set(range(1, 21))
        assert set(labels) == set(truth['objects'])
        assert 1 <= len(truth['objects']) <= 3
        # Every object keeps a visible share of the image.
        counts = np.bincount(mask.ravel(), minlength=21)
        assert all(counts[c] >= 0.015 * 64 * 64 for c in labels)
        if img_id in train_val:
            with open(aug_path, 'rb') as a, open(os.path.join(
                    voc_root, 'SegmentationClass', img_id + '.png'), 'rb') as b:
                assert a.read() == b.read()
        seen.update(labels)
    assert len(seen) >= 15  # 60 images cover most of the 20 classes


def test_xml_annotations_match_masks(voc_root):
    """Every image's XML names exactly its mask's classes (VOC names), and
    each box is the tight box of visible pixels of its class: the boxes of a
    class enclose all its pixels, and every edge of a box touches one."""
    meta = _read_meta(voc_root)
    for img_id in meta['images']:
        path = os.path.join(voc_root, 'Annotations', img_id + '.xml')
        root = ET.parse(path).getroot()
        assert root.tag == 'annotation'
        assert root.findtext('filename') == img_id + '.jpg'
        assert (root.findtext('size/width'), root.findtext('size/height'),
                root.findtext('size/depth')) == ('64', '64', '3')
        mask = np.asarray(Image.open(os.path.join(
            voc_root, 'SegmentationClassAug', img_id + '.png')))
        objects = root.findall('object')
        names = [o.findtext('name') for o in objects]
        assert sorted({VOC_CLASSES.index(n) for n in names}) == \
            meta['images'][img_id]['labels'], img_id
        # one <object> per drawn object (all are visible in generated data)
        assert [VOC_CLASSES.index(n) for n in names] == \
            meta['images'][img_id]['objects']
        covered = np.zeros_like(mask, dtype=bool)
        for obj, name in zip(objects, names):
            assert obj.findtext('difficult') == '0'
            # VOC boxes: 1-based, inclusive
            x0, y0, x1, y1 = (int(obj.findtext(f'bndbox/{t}')) - 1
                              for t in ('xmin', 'ymin', 'xmax', 'ymax'))
            assert 0 <= x0 <= x1 < 64 and 0 <= y0 <= y1 < 64
            inside = mask[y0:y1 + 1, x0:x1 + 1] == VOC_CLASSES.index(name)
            assert inside[0].any() and inside[-1].any(), (img_id, name)
            assert inside[:, 0].any() and inside[:, -1].any(), (img_id, name)
            covered[y0:y1 + 1, x0:x1 + 1] |= inside
        np.testing.assert_array_equal(covered, mask > 0, err_msg=img_id)


def test_xml_box_by_hand(tmp_path):
    """A hand-computed case: the box of an object is its visible pixels."""
    from mmc2am.testing.voc_generator import _encode_xml

    xml = _encode_xml('x', (32, 48), [8, 15],
                      [dict(bbox=(3, 5, 10, 20), truncated=False,
                            occluded=True), None])
    root = ET.fromstring(xml)
    assert root.findtext('size/width') == '48'
    assert root.findtext('size/height') == '32'
    (obj, ) = root.findall('object')  # the hidden person gets no <object>
    assert obj.findtext('name') == 'cat'
    assert obj.findtext('occluded') == '1'
    assert [obj.findtext(f'bndbox/{t}') for t in
            ('xmin', 'ymin', 'xmax', 'ymax')] == ['4', '6', '11', '21']


def test_classes_and_palette_match_mmseg():
    datasets = pytest.importorskip('mmseg.datasets')
    metainfo = datasets.PascalVOCDataset.METAINFO
    assert tuple(metainfo['classes']) == VOC_CLASSES
    np.testing.assert_array_equal(np.asarray(metainfo['palette']),
                                  VOC_PALETTE[:21])


def test_return_value_matches_files(tmp_path):
    root = str(tmp_path / 'VOC2012')
    info = generate_voc_dataset(root, num_train=3, num_val=2, num_aug=1,
                                img_size=(32, 48), seed=5, context_prob=0.5)
    meta = _read_meta(root)
    assert info['root'] == root
    assert info['splits'] == meta['splits']
    assert info['splits']['aug'] == ['gen_000005']
    assert info['img_size'] == (32, 48)
    for img_id, truth in meta['images'].items():
        assert info['labels'][img_id] == truth['labels']
        assert info['context'][img_id] == truth['context']
        assert info['objects'][img_id] == truth['objects']
        img = Image.open(os.path.join(info['img_dir'], img_id + '.jpg'))
        assert img.size == (48, 32)  # PIL gives (width, height)
        mask = Image.open(os.path.join(info['aug_ann_dir'], img_id + '.png'))
        assert np.asarray(mask).shape == (32, 48)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    kwargs = dict(num_train=4, num_val=2, num_aug=2, img_size=32)
    generate_voc_dataset(str(tmp_path / 'a'), seed=3, **kwargs)
    generate_voc_dataset(str(tmp_path / 'b'), seed=3, **kwargs)
    generate_voc_dataset(str(tmp_path / 'c'), seed=4, **kwargs)
    a, b = _all_files(str(tmp_path / 'a')), _all_files(str(tmp_path / 'b'))
    c = _all_files(str(tmp_path / 'c'))
    # images, masks (train + val), aug masks, XML, splits, meta.json
    assert len(a) == 8 + 6 + 8 + 8 + 4 + 1
    assert a == b
    assert a.keys() == c.keys()
    images = [k for k in a if k.endswith('.jpg')]
    assert all(a[k] != c[k] for k in images)

    # Image i depends on (seed, i) only: more aug images leave the others be.
    generate_voc_dataset(str(tmp_path / 'd'), seed=3, **dict(kwargs, num_aug=5))
    d = _all_files(str(tmp_path / 'd'))
    assert all(d[k] == a[k] for k in images)


def test_classes_subset_keeps_voc_ids(tmp_path):
    info = generate_voc_dataset(str(tmp_path / 'voc'), num_train=8, num_val=2,
                                num_aug=0, img_size=32, classes=['cat', 'dog'])
    cat, dog = VOC_CLASSES.index('cat'), VOC_CLASSES.index('dog')
    assert all(set(v) <= {cat, dog} for v in info['labels'].values())
    assert {c for v in info['labels'].values() for c in v} == {cat, dog}
    assert _read_meta(str(tmp_path / 'voc'))['drawn_classes'] == ['cat', 'dog']


@pytest.mark.parametrize('context_prob', [0.8, 0.3])
def test_context_rate_and_background_pixels(tmp_path, no_fsync, context_prob):
    root = str(tmp_path / 'voc')
    n = 400
    info = generate_voc_dataset(root, num_train=n - 1, num_val=1, num_aug=0,
                                img_size=32, seed=11, context_prob=context_prob)
    ids = info['splits']['train'] + info['splits']['val']
    same = np.array([info['context'][i] == info['objects'][i][0] for i in ids])
    stderr = np.sqrt(context_prob * (1 - context_prob) / n)
    assert abs(same.mean() - context_prob) < 4 * stderr

    # The other contexts are spread over the other classes, not one of them.
    others = [info['context'][i] for i in ids if info['context'][i]
              != info['objects'][i][0]]
    assert len(set(others)) >= 15

    # The background shows the chosen context: the mean colour of background
    # pixels away from objects (JPEG blurs edges) is nearest to the colour of
    # the chosen context among the 20.
    meta = _read_meta(root)
    ctx_colors = np.array([meta['class_info'][name]['context']['color']
                           for name in VOC_CLASSES[1:]], dtype=np.float64)
    hits, checked = 0, 0
    for img_id in ids:
        image = np.asarray(Image.open(
            os.path.join(root, 'JPEGImages', img_id + '.jpg')), dtype=np.float64)
        fg = np.asarray(Image.open(
            os.path.join(root, 'SegmentationClassAug', img_id + '.png'))) > 0
        near = fg.copy()
        for axis in (0, 1):
            for shift in (-2, -1, 1, 2):
                near |= np.roll(fg, shift, axis=axis)
        bg = ~near
        if bg.sum() < 64:
            continue
        mean = image[bg].mean(axis=0)
        nearest = int(np.argmin(((ctx_colors - mean) ** 2).sum(axis=1))) + 1
        hits += nearest == info['context'][img_id]
        checked += 1
    assert checked >= 0.8 * n
    assert hits >= 0.98 * checked, (hits, checked)


@pytest.mark.parametrize('kwargs, error', [
    (dict(num_train=0), 'num_train'),
    (dict(num_val=0), 'num_val'),
    (dict(num_aug=-1), 'num_aug'),
    (dict(img_size=16), 'img_size'),
    (dict(img_size=(64, 20)), 'img_size'),
    (dict(context_prob=1.5), 'context_prob'),
    (dict(context_prob=-0.1), 'context_prob'),
    (dict(max_objects=0), 'max_objects'),
    (dict(seed=-1), 'seed'),
    (dict(classes=['cat', 'unicorn']), "unknown class.*'unicorn'"),
    (dict(classes=[]), 'classes'),
])
def test_bad_arguments(tmp_path, kwargs, error):
    out = tmp_path / 'voc'
    with pytest.raises(ValueError, match=error):
        generate_voc_dataset(str(out), **dict(dict(num_train=1, num_val=1,
                                                   num_aug=0, img_size=32),
                                              **kwargs))
    assert not out.exists()  # arguments are checked before anything is written


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    target = str(blocker / 'VOC2012')
    with pytest.raises(OSError, match='out_dir=.*a_file/VOC2012'):
        generate_voc_dataset(target, num_train=1, num_val=1, num_aug=0,
                             img_size=32)


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0,
                    reason='root can write into read-only folders')
def test_read_only_out_dir(tmp_path):
    folder = tmp_path / 'ro'
    folder.mkdir()
    (folder / 'JPEGImages').mkdir()
    os.chmod(folder / 'JPEGImages', 0o500)
    os.chmod(folder, 0o500)
    try:
        with pytest.raises(OSError, match='out_dir='):
            generate_voc_dataset(str(folder), num_train=1, num_val=1, num_aug=0,
                                 img_size=32)
    finally:
        os.chmod(folder, 0o700)
        os.chmod(folder / 'JPEGImages', 0o700)


def test_cli_writes_dataset(tmp_path):
    out = str(tmp_path / 'VOC2012')
    log = str(tmp_path / 'generate.log')
    code = ForkedRun(
        [sys.executable, os.path.join(REPO, 'tools', 'generate_voc.py'), out,
         '--num-train', '3', '--num-val', '2', '--num-aug', '4', '--size', '32',
         '--seed', '7', '--context-prob', '0.5'],
        str(tmp_path), dict(os.environ), log).wait(300)
    with open(log) as f:
        text = f.read()
    assert code == 0, text
    assert 'wrote 3 train, 2 val, 4 aug' in text
    assert len(_read_split(out, 'trainaug')) == 7
    assert len(os.listdir(os.path.join(out, 'JPEGImages'))) == 9
    assert len(os.listdir(os.path.join(out, 'SegmentationClass'))) == 5
    meta = _read_meta(out)
    assert (meta['seed'], meta['context_prob'], meta['img_size']) == (7, 0.5, [32, 32])


def test_cli_reports_bad_arguments(tmp_path, capsys):
    sys.path.insert(0, os.path.join(REPO, 'tools'))
    try:
        import generate_voc
    finally:
        sys.path.pop(0)
    rc = generate_voc.main([str(tmp_path / 'voc'), '--num-train', '0'])
    assert rc == 2
    assert 'num_train' in capsys.readouterr().err


def test_mmseg_reads_the_layout(voc_root):
    """mmseg's own PascalVOCDataset and pipeline load train and the aug split
    the way the stock voc12 / voc12aug configs point at them."""
    datasets = pytest.importorskip('mmseg.datasets')
    # Explicit scopes: no global default scope is set for the other tests.
    pipeline = [dict(type='mmseg.LoadImageFromFile'),
                dict(type='mmseg.LoadAnnotations')]
    for seg_dir, split, n in (('SegmentationClass', 'train', 24),
                              ('SegmentationClassAug', 'aug', 24)):
        ds = datasets.PascalVOCDataset(
            data_root=voc_root, ann_file=f'ImageSets/Segmentation/{split}.txt',
            data_prefix=dict(img_path='JPEGImages', seg_map_path=seg_dir),
            pipeline=pipeline)
        assert len(ds) == n
        item = ds[0]
        assert item['img'].shape == (64, 64, 3)
        seg = item['gt_seg_map']
        assert seg.shape == (64, 64) and 0 < seg.max() <= 20
