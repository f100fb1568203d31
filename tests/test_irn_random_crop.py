"""IRNRandomCrop: IRN's random_crop (random placement, pad, seg map alike)."""
import mmcv
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

import mmc2am  # noqa: F401  (registers the transform)
from mmc2am.datasets.transforms import BGR_MEAN, IRNRandomCrop


def _inputs(h, w):
    """Image whose pixel (y, x) holds (y, x, y + x); seg map of y + x."""
    y, x = np.mgrid[:h, :w]
    img = np.stack([y, x, y + x], -1).astype(np.uint8)
    seg = ((y + x) % 21).astype(np.uint8)
    return dict(img=img, gt_seg_map=seg, seg_fields=['gt_seg_map'],
                img_shape=(h, w))


def _placement(seg_out, h, w):
    """Offset (dy, dx) of the pasted source in a crop (no 255 in source)."""
    rows = np.flatnonzero((seg_out != 255).any(1))
    cols = np.flatnonzero((seg_out != 255).any(0))
    assert len(rows) == h and len(cols) == w
    assert rows[-1] - rows[0] == h - 1 and cols[-1] - cols[0] == w - 1
    return int(rows[0]), int(cols[0])


def test_small_image_lands_at_random_offsets_padded_with_the_mean():
    np.random.seed(0)
    crop = IRNRandomCrop(crop_size=24)
    src = _inputs(10, 14)
    offsets = set()
    for _ in range(60):
        out = crop(dict(src, img=src['img'].copy(),
                        gt_seg_map=src['gt_seg_map'].copy()))
        img, seg = out['img'], out['gt_seg_map']
        assert img.shape == (24, 24, 3) and seg.shape == (24, 24)
        assert out['img_shape'] == (24, 24)
        # a fractional mean on a uint8 image: float32, values exact
        assert img.dtype == np.float32 and seg.dtype == np.uint8
        dy, dx = _placement(seg, 10, 14)
        offsets.add((dy, dx))
        inside = np.zeros((24, 24), bool)
        inside[dy:dy + 10, dx:dx + 14] = True
        np.testing.assert_array_equal(img[inside].reshape(10, 14, 3),
                                      src['img'])
        np.testing.assert_array_equal(seg[inside].reshape(10, 14),
                                      src['gt_seg_map'])
        np.testing.assert_array_equal(
            img[~inside], np.broadcast_to(np.float32(BGR_MEAN),
                                          ((~inside).sum(), 3)))
        assert (seg[~inside] == 255).all()
    # 15 x 11 possible offsets: many are drawn, not only the centre (7, 5)
    assert len(offsets) >= 30
    dys, dxs = zip(*offsets)
    assert min(dys) <= 2 and max(dys) >= 12 and min(dxs) <= 2 \
        and max(dxs) >= 8


def test_large_image_gives_crop_windows_at_varying_positions():
    np.random.seed(1)
    crop = IRNRandomCrop(crop_size=(16, 20), pad_val=0)
    src = _inputs(40, 50)
    starts = set()
    for _ in range(40):
        out = crop(dict(src))
        img, seg = out['img'], out['gt_seg_map']
        assert img.shape == (16, 20, 3) and img.dtype == np.uint8
        y0, x0 = int(img[0, 0, 0]), int(img[0, 0, 1])
        assert 0 <= y0 <= 40 - 16 and 0 <= x0 <= 50 - 20
        np.testing.assert_array_equal(img, src['img'][y0:y0 + 16,
                                                      x0:x0 + 20])
        np.testing.assert_array_equal(
            seg, src['gt_seg_map'][y0:y0 + 16, x0:x0 + 20])
        assert out['img_shape'] == (16, 20)
        starts.add((y0, x0))
    assert len(starts) >= 30


def test_axes_are_independent_window_and_padding():
    """Tall and narrow: rows cropped to a window, columns pasted padded."""
    np.random.seed(2)
    crop = IRNRandomCrop(crop_size=16, pad_val=(1, 2, 3), seg_pad_val=254)
    src = _inputs(40, 6)
    dxs, y0s = set(), set()
    for _ in range(30):
        out = crop(dict(src))
        img, seg = out['img'], out['gt_seg_map']
        cols = np.flatnonzero((seg != 254).any(0))
        assert len(cols) == 6 and (seg != 254).all(1).sum() == 0
        dx = int(cols[0])
        y0 = int(img[0, dx, 0])
        np.testing.assert_array_equal(img[:, dx:dx + 6],
                                      src['img'][y0:y0 + 16])
        pad = np.ones(16, bool)
        pad[dx:dx + 6] = False
        assert (img[:, pad] == (1, 2, 3)).all()
        assert img.dtype == np.uint8  # an integer fill keeps the dtype
        dxs.add(dx)
        y0s.add(y0)
    assert len(dxs) >= 6 and len(y0s) >= 10


def test_image_only_and_bad_arguments():
    out = IRNRandomCrop(crop_size=8)(dict(img=np.zeros((4, 4, 3),
                                                        np.uint8)))
    assert out['img'].shape == (8, 8, 3) and 'gt_seg_map' not in out
    with pytest.raises(ValueError, match='crop_size'):
        IRNRandomCrop(crop_size=0)
    with pytest.raises(ValueError, match='2 pad values'):
        IRNRandomCrop(crop_size=8, pad_val=(1, 2))(
            dict(img=np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(ValueError, match='does not match'):
        IRNRandomCrop(crop_size=8)(dict(img=np.zeros((4, 4, 3), np.uint8),
                                        gt_seg_map=np.zeros((4, 5),
                                                            np.uint8)))


def test_mmpretrain_random_crop_centres_a_small_image():
    """Why this transform exists: mmpretrain pads a small image at one place."""
    from mmpretrain.datasets.transforms import RandomCrop
    np.random.seed(0)
    t = RandomCrop(crop_size=24, pad_if_needed=True, pad_val=0)
    img = np.full((10, 14, 3), 200, np.uint8)
    places = set()
    for _ in range(20):
        out = t(dict(img=img.copy()))['img']
        rows = np.flatnonzero((out == 200).any((1, 2)))
        cols = np.flatnonzero((out == 200).any((0, 2)))
        places.add((int(rows[0]), int(cols[0])))
    assert len(places) == 1


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg'])
def test_builds_from_both_scopes(scope, voc_root):
    """Configs of mmpretrain's and mmseg's scopes find it by its prefix, and
    it crops the image and mask of a real pipeline with one window."""
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    if scope == 'mmseg':
        from mmseg.registry import TRANSFORMS
        load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    else:
        from mmpretrain.registry import TRANSFORMS
        load = [dict(type='LoadImageFromFile'),
                dict(type='mmcv.LoadAnnotations', with_bbox=False,
                     with_label=False, with_seg=True,
                     imdecode_backend='pillow')]
    cls = TRANSFORMS.get('mmc2am.IRNRandomCrop')
    assert cls is not None and cls.__name__ == 'IRNRandomCrop'
    with DefaultScope.overwrite_default_scope(scope):
        pipeline = Compose(
            [TRANSFORMS.build(t) for t in load] +
            [TRANSFORMS.build(dict(type='mmc2am.IRNRandomCrop', crop_size=80))])
    with open(f'{voc_root}/ImageSets/Segmentation/train.txt') as f:
        img_id = f.readline().strip()
    img_path = f'{voc_root}/JPEGImages/{img_id}.jpg'
    seg_path = f'{voc_root}/SegmentationClass/{img_id}.png'
    np.random.seed(3)
    out = pipeline(dict(img_path=img_path, seg_map_path=seg_path,
                        reduce_zero_label=False, seg_fields=[]))
    img, seg = out['img'], out['gt_seg_map']
    assert img.shape == (80, 80, 3) and seg.shape == (80, 80)
    assert out['img_shape'] == (80, 80)
    src_img = mmcv.imread(img_path)  # BGR, as the loader
    src_seg = np.asarray(Image.open(seg_path))
    h, w = src_seg.shape
    found = [(dy, dx) for dy in range(81 - h) for dx in range(81 - w)
             if np.array_equal(img[dy:dy + h, dx:dx + w], src_img)]
    assert len(found) == 1
    dy, dx = found[0]
    np.testing.assert_array_equal(seg[dy:dy + h, dx:dx + w], src_seg)
    inside = np.zeros((80, 80), bool)
    inside[dy:dy + h, dx:dx + w] = True
    assert (seg[~inside] == 255).all()
    assert (img[~inside] == np.float32(BGR_MEAN)).all()
