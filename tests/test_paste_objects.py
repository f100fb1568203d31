"""PasteObjects (issue 26, object-context recombination): the object bank,
the pasted pixels and their feathered edge, the labels, the errors."""
import os.path as osp

import mmcv
import numpy as np
import pytest
from mmcv.transforms import Compose

import mmc2am  # noqa: F401  (registers the transforms)
from mmc2am.datasets.transforms import EraseObjects, PasteObjects
from mmc2am.datasets.transforms.paste_objects import build_object_bank, feather_alpha
from mmc2am.registry import TRANSFORMS
from mmc2am.utils.mask_files import save_label_png

S = 40  # every image is S x S = 1600 px
BG = (200, 100, 50)  # BGR of the target image, no object pixel has it


def _texture(seed):
    """An image whose pixels differ from each other (rows, columns)."""
    y, x = np.mgrid[:S, :S]
    return np.stack([10 + 3 * y, 20 + 2 * x, np.full_like(y, 30 + seed)],
                    -1).astype(np.uint8)


def _masks():
    """Hand-made pseudo-masks: which ones the bank keeps."""
    # 'one30': class 3 (index 2) on 20x24 = 480 px = 30 %: kept
    one30 = np.zeros((S, S), np.uint8)
    one30[4:24, 6:30] = 3
    # 'two': classes 3 and 7 at 30 % + 10 %: two classes, excluded
    two = one30.copy()
    two[30:38, 0:20] = 7
    # 'small': class 9 on 8x10 = 80 px = 5 %: excluded
    small = np.zeros((S, S), np.uint8)
    small[10:18, 10:20] = 9
    # 'ign30': class 5 (index 4) on 20x24 = 30 % and ignore pixels
    # elsewhere (ignore is no class): kept
    ign30 = np.zeros((S, S), np.uint8)
    ign30[10:30, 12:36] = 5
    ign30[0:3, 0:40] = 255
    # 'big': class 11 on 36x36 = 81 %: excluded
    big = np.zeros((S, S), np.uint8)
    big[2:38, 2:38] = 11
    return dict(one30=one30, two=two, small=small, ign30=ign30, big=big)


@pytest.fixture
def data(tmp_path):
    """``masks/<id>.png`` and ``imgs/<id>.png`` (PNG: lossless pixels)."""
    for i, (name, mask) in enumerate(_masks().items()):
        save_label_png(str(tmp_path / 'masks' / f'{name}.png'), mask)
        mmcv.imwrite(_texture(i), str(tmp_path / 'imgs' / f'{name}.png'))
    return str(tmp_path / 'masks'), str(tmp_path / 'imgs')


def _paste(data, **kw):
    mask_dir, img_dir = data
    kw.setdefault('img_suffix', '.png')
    return PasteObjects(mask_dir, img_dir, **kw)


def _results(label=(2, ), **kw):
    img = np.empty((S, S, 3), np.uint8)
    img[:] = BG
    return dict(img=img, img_path='t/JPEGImages/tgt.jpg', img_id='tgt',
                gt_label=list(label), img_shape=(S, S), ori_shape=(S, S),
                **kw)


def test_bank_keeps_the_single_class_objects_in_range(data):
    bank = build_object_bank(*data, img_suffix='.png')
    assert sorted(bank) == [2, 4]
    assert [e[2] for e in bank[2]] == ['one30']
    assert [e[2] for e in bank[4]] == ['ign30']
    crop, mask, _ = bank[4][0]
    # the object's tight box, cut from its image; ignore is not object
    assert crop.shape == (20, 24, 3) and mask.shape == (20, 24) and \
        mask.all()
    np.testing.assert_array_equal(crop, _texture(3)[10:30, 12:36])
    # the id list restricts the bank; the area bounds are inclusive
    bank = build_object_bank(*data, ids=['one30', 'small'],
                             img_suffix='.png', min_area=0.05)
    assert {c: [e[2] for e in v] for c, v in bank.items()} == {
        2: ['one30'], 8: ['small']}


def test_pasted_pixels_core_edge_and_outside(data):
    np.random.seed(0)
    # area 0.3 = the object's own 480 px: pasted at its size, unresampled
    t = _paste(data, prob=1.0, scale_range=(0.3, 0.3), feather=3)
    out = t(_results())
    p = out['pasted']
    assert p['cls'] == 4 and p['source'] == 'ign30'  # the only class left
    y0, x0, y1, x1 = p['box']
    assert (y1 - y0, x1 - x0) == (20, 24) and p['area'] == 0.3
    assert 0 <= y0 and y1 <= S and 0 <= x0 and x1 <= S
    obj = _texture(3)[10:30, 12:36]
    img = out['img']
    # the core: 3 px or more inside the edge, the object's pixels exactly
    np.testing.assert_array_equal(img[y0 + 2:y1 - 2, x0 + 2:x1 - 2],
                                  obj[2:-2, 2:-2])
    # outside the box: the target unchanged
    outside = np.ones((S, S), bool)
    outside[y0:y1, x0:x1] = False
    assert (img[outside] == BG).all()
    # the edge row: strictly between object and target
    edge = img[y0, x0 + 5].astype(int)
    o, b = obj[0, 5].astype(int), np.array(BG)
    assert ((edge - o) * (edge - b) < 0).all()
    # by hand: the pixel is 1 px from the non-object ring, alpha = 1/3;
    # object (B, G, R) = (10 + 3*10, 20 + 2*(12 + 5), 30 + 3) = (40, 54, 33)
    # (row 10, column 17 of the source), target (200, 100, 50):
    # 40/3 + 400/3 = 146.67 -> 147, 54/3 + 200/3 = 84.67 -> 85,
    # 33/3 + 100/3 = 44.33 -> 44
    assert o.tolist() == [40, 54, 33]
    assert edge.tolist() == [147, 85, 44]
    # the ramp: 1, 2, 3 px from the ring around the box: 1/3, 2/3, 1
    a = feather_alpha(np.ones((20, 24), bool), 3)
    assert a[0, 5] == np.float32(1 / 3) and a[1, 5] == np.float32(2 / 3) \
        and a[2, 5] == 1 and a[1, 1] == np.float32(2 / 3)
    expected = np.rint(a[..., None] * obj + (1 - a[..., None]) *
                       np.array(BG, np.float32))
    np.testing.assert_array_equal(img[y0:y1, x0:x1], expected)


def test_labels_are_the_union(data):
    np.random.seed(0)
    score = np.zeros(20)
    score[2] = 1
    seg = np.zeros((S, S), np.uint8)
    out = _paste(data, prob=1.0, scale_range=(0.3, 0.3))(
        _results(gt_score=score, gt_seg_map=seg))
    assert out['gt_label'] == [2, 4]
    assert out['gt_score'].nonzero()[0].tolist() == [2, 4]
    y0, x0, y1, x1 = out['pasted']['box']
    expect = np.zeros((S, S), np.uint8)
    expect[y0:y1, x0:x1] = 5  # the class id of index 4, on the object
    np.testing.assert_array_equal(out['gt_seg_map'], expect)
    assert score.nonzero()[0].tolist() == [2]  # the input is not modified
    # an empty label gets either class; the label is exactly the pasted one
    out = _paste(data, prob=1.0)(_results(label=()))
    assert out['gt_label'] == [out['pasted']['cls']]


def test_image_holding_every_bank_class_or_prob_zero_is_unchanged(
        data, tmp_path):
    np.random.seed(0)
    out = _paste(data, prob=1.0)(_results(label=(4, 2)))
    assert out['pasted'] is None and out['gt_label'] == [4, 2]
    assert (out['img'] == BG).all()
    # prob 0: not even the folders are read
    t = PasteObjects(str(tmp_path / 'none'), str(tmp_path / 'none'),
                     prob=0.0)
    out = t(_results())
    assert out['pasted'] is None and out['gt_label'] == [2]
    assert (out['img'] == BG).all() and t._bank is None


def test_random_scales_positions_and_seeding(data):
    t = _paste(data, prob=0.5, feather=2)

    def run():
        np.random.seed(3)
        return [t(_results(label=())) for _ in range(30)]

    outs, again = run(), run()
    pasted = [o['pasted'] for o in outs]
    assert pasted == [o['pasted'] for o in again]
    for a, b in zip(outs, again):
        np.testing.assert_array_equal(a['img'], b['img'])
    done = [p for p in pasted if p is not None]
    assert 5 < len(done) < 25
    assert {p['cls'] for p in done} == {2, 4}
    for p in done:
        y0, x0, y1, x1 = p['box']
        assert 0 <= y0 < y1 <= S and 0 <= x0 < x1 <= S
        # the drawn area in [0.1, 0.7], up to the rounding of the size
        assert 0.08 < p['area'] < 0.75
    assert len({p['box'] for p in done}) > 3


def test_erase_then_paste(data):
    mask_dir, img_dir = data
    pipe = Compose([
        dict(type='mmc2am.EraseObjects', mask_dir=mask_dir, prob=1.0),
        dict(type='mmc2am.PasteObjects', mask_dir=mask_dir,
             img_dir=img_dir, img_suffix='.png', prob=1.0)
    ])
    assert isinstance(pipe.transforms[0], EraseObjects)
    assert isinstance(pipe.transforms[1], PasteObjects)
    np.random.seed(0)
    # the source 'one30' itself: its class-3 object erased, one pasted
    res = dict(img=_texture(0), img_id='one30', img_path='x/one30.png',
               gt_label=[2])
    out = pipe(res)
    assert out['objects_erased'] and out['pasted'] is not None
    assert out['gt_label'] == [out['pasted']['cls']]


def test_registered_and_argument_errors(data):
    assert TRANSFORMS.get('PasteObjects') is PasteObjects
    with pytest.raises(ValueError, match='prob'):
        _paste(data, prob=2)
    with pytest.raises(ValueError, match='scale_range'):
        _paste(data, scale_range=(0.5, 0.2))
    with pytest.raises(ValueError, match='min_area'):
        _paste(data, min_area=0.8, max_area=0.7)


def test_errors_name_the_folder_or_file(data, tmp_path):
    mask_dir, img_dir = data
    with pytest.raises(FileNotFoundError, match=r'folder not found: .*nowh'):
        PasteObjects(str(tmp_path / 'nowhere'), img_dir, prob=1.0)(
            _results())
    with pytest.raises(FileNotFoundError, match=r'imgs/ign30\.jpg'):
        # the first kept id (sorted); the images are .png
        PasteObjects(mask_dir, img_dir, prob=1.0)(_results())
    # a mask of another size than its image
    save_label_png(str(tmp_path / 'masks' / 'one30.png'),
                   np.pad(_masks()['one30'], ((0, 0), (0, 2))))
    with pytest.raises(ValueError, match=r'masks/one30\.png is 40x42, its '
                       r'image .*imgs/one30\.png is 40x40'):
        _paste(data, prob=1.0)(_results())
    # no single-class object in range: the folder is named
    empty = tmp_path / 'empty'
    for name in ('two', 'small', 'big'):
        save_label_png(str(empty / f'{name}.png'), _masks()[name])
    with pytest.raises(ValueError, match=r'no object .*empty \(3 masks\)'):
        PasteObjects(str(empty), img_dir, prob=1.0)(_results())
    # a listed id without its mask
    ids = tmp_path / 'ids.txt'
    ids.write_text('ign30\nmissing\n')
    with pytest.raises(FileNotFoundError, match=r'masks/missing\.png'):
        _paste(data, prob=1.0, ann_file=str(ids))(_results())
    assert osp.isdir(mask_dir)
