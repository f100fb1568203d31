"""SeedMetric: the one-pass threshold sweep against brute force."""
import json

import numpy as np
import pytest
import torch

from mmc2am.evaluation.metrics import SeedMetric
from mmc2am.evaluation.metrics.seed_metric import (
    DEFAULT_THRESHOLDS,
    seed_counts,
    sweep_confusions,
)

NUM_CLASSES = 4  # foreground; label ids 0 (background) .. 4


def brute_force_confusion(images, threshold, num_labels):
    """The reference's seed (np.argmax over [t, cams]) and its confusion."""
    conf = np.zeros((num_labels, num_labels), dtype=np.int64)
    for cams, keys, gt in images:
        planes = np.concatenate(
            [np.full((1, ) + gt.shape, threshold, dtype=cams.dtype), cams])
        labels = np.concatenate([[0], keys + 1])
        pred = labels[np.argmax(planes, axis=0)]
        valid = gt != 255
        conf += np.bincount(
            num_labels * gt[valid].astype(np.int64) + pred[valid],
            minlength=num_labels**2).reshape(num_labels, num_labels)
    return conf


def brute_force_miou(conf):
    tp = np.diag(conf).astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = tp / (conf.sum(0) + conf.sum(1) - tp)
    return iou, np.nanmean(iou)


def make_images(seed=0, n=5):
    """Random CAMs with ties: quantised to 0.01 steps, so many pixels equal
    a threshold exactly, and classes often tie with each other."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        h, w = rng.integers(5, 12, size=2)
        k = int(rng.integers(0, 3)) if i else 0  # the first has no class
        keys = np.sort(rng.choice(NUM_CLASSES, size=k, replace=False))
        cams = (rng.integers(0, 101, size=(k, h, w)) / 100).astype(np.float32)
        gt = rng.choice(np.concatenate([[0, 255], keys + 1]), size=(h, w))
        images.append((cams, keys, gt.astype(np.uint8)))
    return images


def run_metric(images, **kwargs):
    metric = SeedMetric(num_classes=NUM_CLASSES, save_curve=False, **kwargs)
    samples = [
        dict(high_res_cam=torch.from_numpy(c), cam_keys=torch.from_numpy(k),
             gt_seg_map=g) for c, k, g in images
    ]
    metric.process({}, samples)
    return metric, metric.compute_metrics(metric.results)


def test_sweep_equals_brute_force_at_every_threshold():
    images = make_images()
    N = NUM_CLASSES + 1
    thr = np.asarray(DEFAULT_THRESHOLDS)
    counts = np.zeros(N * N * (len(thr) + 1), dtype=np.int64)
    for cams, keys, gt in images:
        index, count = seed_counts(cams, keys + 1, gt, thr.astype(np.float32),
                                   N)
        np.add.at(counts, index, count)
    conf = sweep_confusions(counts.reshape(N, N, -1))
    assert conf.shape == (96, N, N)
    for j, t in enumerate(thr):
        np.testing.assert_array_equal(
            conf[j], brute_force_confusion(images, t, N), err_msg=f't={t}')


def test_custom_unsorted_thresholds():
    images = make_images(seed=1)
    thr = [0.5, 0.1, 0.37, 0.0, 1.0]
    metric, res = run_metric(images, thresholds=thr)
    N = NUM_CLASSES + 1
    mious = [brute_force_miou(brute_force_confusion(images, t, N))[1]
             for t in sorted(thr)]
    best = int(np.nanargmax(mious))
    assert res['best_threshold'] == sorted(thr)[best]
    assert res['mIoU'] == pytest.approx(round(mious[best] * 100, 2))


def test_ignore_index_pixels_do_not_count():
    images = make_images(seed=2)
    _, res = run_metric(images)
    # Change the CAMs under every ignored pixel: nothing may move.
    changed = []
    for cams, keys, gt in images:
        cams = cams.copy()
        cams[:, gt == 255] = 1 - cams[:, gt == 255]
        changed.append((cams, keys, gt))
    _, res2 = run_metric(changed)
    assert res == res2
    N = NUM_CLASSES + 1
    cams, keys, gt = images[1]
    index, count = seed_counts(cams, keys + 1, gt,
                               np.float32([0.1, 0.2]), N)
    assert count.sum() == (gt != 255).sum()
    # A label id beyond the classes is an error, not an ignored pixel.
    bad = gt.copy()
    bad[0, 0] = N
    with pytest.raises(ValueError, match='outside'):
        seed_counts(cams, keys + 1, bad, np.float32([0.1]), N)


def test_absent_class_is_nan_and_left_out_of_the_mean():
    # Classes 1 and 2 only; 3 and 4 never in GT nor predicted.
    gt = np.array([[0, 0, 1, 1], [0, 2, 2, 255]], dtype=np.uint8)
    cams = np.zeros((2, 2, 4), dtype=np.float32)
    cams[0] = [[0.1, 0.1, 0.9, 0.9], [0.1, 0.1, 0.1, 0.9]]
    cams[1] = [[0.0, 0.0, 0.0, 0.0], [0.0, 0.8, 0.1, 0.0]]
    keys = np.array([0, 1])
    metric, res = run_metric([(cams, keys, gt)], thresholds=[0.5])
    conf = brute_force_confusion([(cams, keys, gt)], 0.5, NUM_CLASSES + 1)
    iou, miou = brute_force_miou(conf)
    assert np.isnan(iou[3]) and np.isnan(iou[4])
    # background 3/4, class 1 2/2, class 2 1/2: mean over 3 classes only.
    np.testing.assert_allclose(iou[:3], [0.75, 1.0, 0.5])
    assert res['mIoU'] == pytest.approx(75.0)
    assert res['mIoU'] == pytest.approx(round(miou * 100, 2))


def test_best_threshold_and_ties_go_to_background():
    # Object pixels at 0.6, background pixels at exactly 0.3 (float32):
    # every t in [0.30, 0.60) is perfect; at t = 0.30 the tie is background.
    gt = np.zeros((4, 4), dtype=np.uint8)
    gt[1:3, 1:3] = 3
    cams = np.where(gt == 3, 0.6, 0.3).astype(np.float32)[None]
    metric, res = run_metric([(cams, np.array([2]), gt)])
    assert res['best_threshold'] == 0.3
    assert res['mIoU'] == 100.0
    assert res['aAcc'] == 100.0


def test_evaluate_drops_padded_duplicates(tmp_path):
    """mmengine pads the last batch of a round_up sampler with repeats;
    ``evaluate(size)`` keeps the first ``size`` results (one per image)."""
    images = make_images(seed=3, n=4)
    metric = SeedMetric(num_classes=NUM_CLASSES, output_dir=str(tmp_path))
    samples = [
        dict(high_res_cam=c, cam_keys=k, gt_seg_map=torch.from_numpy(g)[None])
        for c, k, g in images + images[:2]  # two padded duplicates
    ]
    for i in range(0, len(samples), 3):
        metric.process({}, samples[i:i + 3])
    res = metric.evaluate(len(images))
    _, expected = run_metric(images)
    assert res == expected
    curve = json.loads((tmp_path / 'seed_sweep.json').read_text())
    assert len(curve['thresholds']) == len(curve['mIoU']) == 96
    assert curve['best_threshold'] == res['best_threshold']
    assert curve['num_images'] == 4
    assert (tmp_path / 'seed_sweep.png').read_bytes()[:4] == b'\x89PNG'


def test_class_names_from_dataset_meta_and_registry():
    from mmengine.registry import DefaultScope

    from mmc2am.evaluation.metrics import seed_metric  # noqa: F401

    for scope in ('mmseg', 'mmpretrain'):
        with DefaultScope.overwrite_default_scope(scope):
            if scope == 'mmseg':
                from mmseg.registry import METRICS
            else:
                from mmpretrain.registry import METRICS
            metric = METRICS.build(dict(type='mmc2am.SeedMetric'))
            assert isinstance(metric, SeedMetric)
    # 20 names (mmpretrain VOC) and 21 with background (mmseg VOC) agree.
    names = [f'c{i}' for i in range(NUM_CLASSES)]
    for classes in (names, ['background'] + names):
        metric = SeedMetric()
        metric.dataset_meta = dict(classes=classes)
        assert metric._foreground_names() == names


def test_background_only_image_is_scored():
    """A seed run may hold an image without any class: all its pixels are
    background at every threshold, whatever empty CAM (or none) it has."""
    gt_obj = np.array([[0, 1, 1], [0, 1, 255]], dtype=np.uint8)
    cams = np.array([[[0.2, 0.9, 0.4], [0.6, 0.8, 0.1]]], np.float32)
    gt_bg = np.array([[0, 0, 0], [1, 0, 255]], dtype=np.uint8)
    thr = [0.3, 0.5]
    for empty in (None, np.zeros((0, 2, 3), np.float32), np.zeros(0)):
        metric = SeedMetric(num_classes=NUM_CLASSES, save_curve=False,
                            thresholds=thr)
        bg = dict(cam_keys=torch.zeros(0, dtype=torch.long),
                  gt_seg_map=gt_bg)
        if empty is not None:
            bg['high_res_cam'] = torch.from_numpy(empty)
        metric.process({}, [
            dict(high_res_cam=torch.from_numpy(cams),
                 cam_keys=torch.tensor([0]), gt_seg_map=gt_obj), bg
        ])
        res = metric.compute_metrics(metric.results)
        # by hand. t = 0.3: image 1 predicts [[0,1,1],[1,1,-]], image 2
        # all 0: bg TP 1+4, FP 0+1, FN 1+0 -> 5/7; class 1 TP 3, FP 1,
        # FN 0+1 -> 3/5. t = 0.5: image 1 predicts [[0,1,0],[1,1,-]]:
        # bg TP 1+4, FP 1+1, FN 1 -> 5/8; class 1 TP 2, FP 1, FN 1+1 -> 2/5.
        miou = {0.3: (5 / 7 + 3 / 5) / 2, 0.5: (5 / 8 + 2 / 5) / 2}
        assert res['best_threshold'] == 0.3
        assert res['mIoU'] == pytest.approx(round(miou[0.3] * 100, 2))
        # and it equals the reference's argmax over [t] alone
        conf = brute_force_confusion(
            [(cams, np.array([0]), gt_obj),
             (np.zeros((0, 2, 3), np.float32), np.zeros(0, int), gt_bg)],
            0.3, NUM_CLASSES + 1)
        assert res['mIoU'] == pytest.approx(
            round(brute_force_miou(conf)[1] * 100, 2))


def test_bad_ground_truth_names_the_file():
    metric = SeedMetric(num_classes=NUM_CLASSES, save_curve=False)
    gt = np.full((2, 2), 37, np.uint8)
    with pytest.raises(ValueError, match=r'a/b/2007_000032\.png.*37'):
        metric.process({}, [dict(
            high_res_cam=torch.zeros(0, 2, 2), cam_keys=torch.zeros(0),
            gt_seg_map=gt, img_path='a/b/2007_000032.png')])
