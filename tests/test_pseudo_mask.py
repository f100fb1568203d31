"""Pseudo-masks from CAMs: confident labels with and without the dense CRF."""
import cv2
import numpy as np
import pytest

from mmc2am.cam.pseudo_mask import (
    IGNORE_INDEX,
    cam_to_pseudo_mask,
    confusion_areas,
    crf_inference_label,
    load_label_png,
    save_label_png,
)


def test_threshold_mode_hand_made_cams():
    # Two classes, keys 4 and 11 -> VOC ids 5 and 12; t_fg 0.3, t_bg 0.05.
    cams = np.array([
        [[0.90, 0.20, 0.01], [0.50, 0.00, 0.31]],
        [[0.10, 0.35, 0.02], [0.60, 0.08, 0.29]],
    ], dtype=np.float32)
    expected = np.array([
        [5, 12, 0],  # fg class 5; fg class 12; both below t_bg
        [12, 255, 5],  # 0.6 > 0.5; 0.08 in [t_bg, t_fg) -> ignore; 0.31
    ], dtype=np.uint8)
    mask = cam_to_pseudo_mask(cams, np.array([4, 11]), t_fg=0.3, t_bg=0.05,
                              mode='threshold')
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, expected)


def test_no_classes_gives_background():
    img = np.zeros((8, 8, 3), np.uint8)
    cams = np.zeros((0, 8, 8), np.float32)
    for mode in ('threshold', 'crf'):
        mask = cam_to_pseudo_mask(cams, np.zeros(0, np.int64), 0.3, 0.05,
                                  img=img, mode=mode)
        assert mask.shape == (8, 8) and not mask.any()


def test_bad_arguments():
    cams = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match='t_bg'):
        cam_to_pseudo_mask(cams, [0], t_fg=0.1, t_bg=0.2, mode='threshold')
    with pytest.raises(ValueError, match='mode'):
        cam_to_pseudo_mask(cams, [0], 0.3, 0.05, mode='irn')
    with pytest.raises(ValueError, match='image'):
        cam_to_pseudo_mask(cams, [0], 0.3, 0.05, mode='crf')


def test_crf_gives_valid_label_map():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    cams = rng.random((3, 24, 32), dtype=np.float32)
    keys = np.array([0, 7, 19])
    mask = cam_to_pseudo_mask(cams, keys, 0.3, 0.05, img=img, mode='crf')
    assert mask.shape == (24, 32) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1, 8, 20, IGNORE_INDEX}
    labels = crf_inference_label(img, rng.integers(0, 3, (24, 32)), 3)
    assert labels.shape == (24, 32) and set(np.unique(labels)) <= {0, 1, 2}


def _blurred_edge_scene():
    """A red square on green texture; its CAM is blurred and shifted."""
    rng = np.random.default_rng(1)
    h = w = 48
    truth = np.zeros((h, w), np.uint8)
    truth[14:34, 12:32] = 1
    img = np.where(truth[..., None] == 1, [200, 40, 40], [60, 140, 60])
    img = np.clip(img + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    # The CAM spills over the object's edge: shifted right by 4 px and
    # blurred, so thresholds alone cut the object at the wrong place.
    cam = np.roll(truth.astype(np.float32), 4, axis=1)
    cam = cv2.GaussianBlur(cam, (0, 0), sigmaX=4)
    cam /= cam.max()
    return img, cam[None], truth


def test_crf_follows_object_edge_better_than_threshold():
    img, cams, truth = _blurred_edge_scene()
    keys = np.array([0])  # aeroplane: VOC id 1, as in ``truth``
    accs = {}
    for mode in ('threshold', 'crf'):
        mask = cam_to_pseudo_mask(cams, keys, 0.3, 0.05, img=img, mode=mode)
        # A 255 is no agreement with the true mask.
        accs[mode] = float((mask == truth).mean())
    assert accs['crf'] > accs['threshold'] + 0.05, accs
    assert accs['crf'] > 0.95, accs


def test_label_png_round_trip(tmp_path):
    mask = np.array([[0, 1, 20], [255, 7, 0]], np.uint8)
    path = str(tmp_path / 'sub' / 'a.png')
    save_label_png(path, mask)
    from PIL import Image
    with Image.open(path) as png:
        assert png.mode == 'P'
        assert png.getpalette()[3:6] == [128, 0, 0]  # VOC colour of id 1
    np.testing.assert_array_equal(load_label_png(path), mask)


def test_png_palette_is_mmseg_voc_palette():
    from mmseg.datasets import PascalVOCDataset

    from mmc2am.utils.mask_files import VOC_PNG_PALETTE
    np.testing.assert_array_equal(
        VOC_PNG_PALETTE[:21], PascalVOCDataset.METAINFO['palette'])
    assert VOC_PNG_PALETTE[255].tolist() == [224, 224, 192]  # VOC's ignore


def test_unreadable_label_png_is_named(tmp_path):
    path = tmp_path / 'a.png'
    path.write_bytes(b'\x89PNG not really')
    with pytest.raises(ValueError, match='not a readable label map') as e:
        load_label_png(str(path))
    assert str(path) in str(e.value)


def test_confusion_areas_counts_ignore_as_miss_or_drops_it():
    pred = np.array([[1, 255], [0, 0]], np.uint8)
    gt = np.array([[1, 1], [0, 255]], np.uint8)
    areas = confusion_areas(pred, gt, num_classes=3)
    inter, union = areas['strict'][0], areas['strict'][1]
    # Class 1: one hit, the ignored pixel is a miss -> IoU 1/2.
    assert inter[1] == 1 and union[1] == 2
    assert inter[0] == 1 and union[0] == 1
    inter, union = areas['confident'][0], areas['confident'][1]
    assert inter[1] == 1 and union[1] == 1
    assert areas['ignored'] == 1 and areas['valid'] == 3
