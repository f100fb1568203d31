"""ContextSpillMetric (issue 26): the spill of toy CAMs computed by hand,
ignore pixels, classes without mass, the context column, the registry."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

from mmc2am.evaluation.metrics import ContextSpillMetric, SeedMetric
from mmc2am.evaluation.metrics.context_spill_metric import (
    context_spill,
    read_contexts,
)
from mmc2am.registry import METRICS

THR = 0.2


def image_a():
    """4x4, classes 1 (map 0) and 0 (map 1); the background is the
    context of class id 2 (index 1)."""
    cam1 = np.array([[0.9, 0.8, 0.1, 0.0],
                     [0.7, 0.6, 0.3, 0.2],
                     [0.5, 0.4, 0.2, 0.1],
                     [0.0, 0.3, 0.1, 0.0]])
    cam0 = np.array([[0.0, 0.0, 0.0, 0.5],
                     [0.0, 0.0, 0.0, 0.5],
                     [0.0, 0.0, 0.0, 1.0],
                     [0.0, 0.0, 0.0, 0.1]])
    gt = np.array([[2, 2, 0, 0],
                   [2, 2, 0, 0],
                   [2, 255, 0, 1],
                   [0, 0, 0, 0]], np.uint8)
    return np.stack([cam1, cam0]).astype(np.float32), np.array([1, 0]), gt


def image_b():
    """6x6, class 0: a 3x3 object at 0.5, the background row 0 at 0.25, an
    ignored row 5 at 0.9, 0.1 elsewhere; the context of class id 1."""
    cam = np.full((6, 6), 0.1)
    cam[1:4, 1:4] = 0.5
    cam[0] = 0.25
    cam[5] = 0.9
    gt = np.zeros((6, 6), np.uint8)
    gt[1:4, 1:4] = 1
    gt[5] = 255
    return cam[None].astype(np.float32), np.array([0]), gt


def image_c():
    """4x4, class 2 everywhere at 0.1: no mass above THR."""
    return (np.full((1, 4, 4), 0.1, np.float32), np.array([2]),
            np.full((4, 4), 3, np.uint8))


def test_toy_by_hand():
    cam, keys, gt = image_a()
    r = context_spill(cam, gt, keys, THR, context_mask=gt == 0)
    # map 0 (class 1, gt id 2), values > 0.2 on labelled pixels:
    #   on its object 0.9 + 0.8 + 0.7 + 0.6 + 0.5 = 3.5
    #   off it (background) 0.3 at (1, 2) + 0.3 at (3, 1) = 0.6
    #   0.4 at (2, 1) is ignore: in neither sum; 0.2s are not > 0.2
    #   mass 4.1, spill 0.6 / 4.1 = 0.146341..., all of it on background
    # map 1 (class 0, gt id 1): 0.5 + 0.5 on background, 1.0 on its object
    #   mass 2.0, spill 1.0 / 2.0 = 0.5, on background 1.0 / 2.0
    np.testing.assert_allclose(r['mass'], [4.1, 2.0], rtol=1e-6)
    np.testing.assert_allclose(r['outside'], [0.6, 1.0], rtol=1e-6)
    np.testing.assert_allclose(r['spill'], [0.14634146, 0.5], rtol=1e-6)
    np.testing.assert_allclose(r['context_spill'], [0.14634146, 0.5],
                               rtol=1e-6)
    # a per-class context mask: only class 1's map is on its context
    ctx = np.stack([gt == 0, np.zeros_like(gt, bool)])
    r = context_spill(cam, gt, keys, THR, context_mask=ctx)
    np.testing.assert_allclose(r['context_spill'], [0.14634146, 0.0],
                               rtol=1e-6)
    assert 'context' not in context_spill(cam, gt, keys, THR)


def test_ignore_pixels_count_nowhere():
    cam, keys, gt = image_b()
    r = context_spill(cam, gt, keys, THR)
    # object 9 px x 0.5 = 4.5, row 0: 6 px x 0.25 = 1.5, row 5 ignored
    # (6 x 0.9 would be 5.4): mass 6.0, spill 1.5 / 6.0 = 0.25
    np.testing.assert_allclose(r['mass'], [6.0], rtol=1e-6)
    np.testing.assert_allclose(r['spill'], [0.25], rtol=1e-6)
    gt_all = gt.copy()
    gt_all[5] = 0  # the same row as background: spill (1.5 + 5.4) / 11.4
    r = context_spill(cam, gt_all, keys, THR)
    np.testing.assert_allclose(r['spill'], [6.9 / 11.4], rtol=1e-6)


def test_class_without_mass_is_nan():
    cam, keys, gt = image_c()
    r = context_spill(cam, gt, keys, THR, context_mask=gt == 0)
    assert r['mass'].tolist() == [0.0] and np.isnan(r['spill']).all() \
        and np.isnan(r['context_spill']).all()
    # an image without classes: empty arrays
    r = context_spill(np.zeros((0, )), gt, [], THR)
    assert r['mass'].shape == (0, ) and r['spill'].shape == (0, )


def _samples(images, ids):
    return [
        dict(high_res_cam=torch.from_numpy(c), cam_keys=torch.from_numpy(k),
             gt_seg_map=g, img_path=f'VOC2012/JPEGImages/{i}.jpg')
        for (c, k, g), i in zip(images, ids)
    ]


@pytest.fixture
def meta_file(tmp_path):
    """A toy meta.json in the generator's format: images[id]['context']."""
    path = tmp_path / 'meta.json'
    path.write_text(json.dumps(dict(images=dict(
        a=dict(labels=[1, 2], objects=[2, 1], context=2),
        b=dict(labels=[1], objects=[1], context=1),
        c=dict(labels=[3], objects=[3], context=5)))))
    return str(path)


def test_metric_equals_the_function_and_the_context_column(meta_file):
    images = [image_a(), image_b(), image_c()]
    metric = ContextSpillMetric(thr=THR, num_classes=3, meta_file=meta_file)
    metric.process({}, _samples(images, 'abc'))
    out = metric.compute_metrics(metric.results)
    # class 0: mass 2.0 (a) + 6.0 (b) = 8.0, outside 1.0 + 1.5 = 2.5
    #   -> 31.25 %; on its context: only b's background (b's context is
    #   class id 1): 1.5 / 8.0 = 18.75 % (a's background is class 1's)
    # class 1: 0.6 / 4.1 = 14.634 %, all on its context (a's): 14.634 %
    # class 2: no mass, NaN, left out of the means
    # spill (31.25 + 14.634) / 2 = 22.94, context (18.75 + 14.634) / 2
    assert out == dict(spill=22.94, context_spill=16.69)
    # the same from the function's per-image sums
    mass, outside = np.zeros(3), np.zeros(3)
    for cam, keys, gt in images:
        r = context_spill(cam, gt, keys, THR)
        np.add.at(mass, keys, r['mass'])
        np.add.at(outside, keys, r['outside'])
    with np.errstate(invalid='ignore'):
        spill = np.nanmean(outside / mass) * 100
    assert out['spill'] == round(spill, 2)
    # without meta_file: no context column
    metric = ContextSpillMetric(thr=THR, num_classes=3)
    metric.process({}, _samples(images, 'abc'))
    assert metric.compute_metrics(metric.results) == dict(spill=22.94)


def test_next_to_seed_metric_in_one_evaluator(meta_file):
    images = [image_a(), image_b()]
    evaluator = Evaluator([
        dict(type='mmc2am.SeedMetric', num_classes=3, save_curve=False),
        dict(type='mmc2am.ContextSpillMetric', thr=THR, num_classes=3,
             meta_file=meta_file)
    ])
    assert isinstance(evaluator.metrics[0], SeedMetric)
    evaluator.process(_samples(images, 'ab'))
    out = evaluator.evaluate(2)
    assert {'mIoU', 'spill', 'context_spill'} <= set(out)
    # class 0: 2.5 / 8 = 31.25 %, class 1: 14.63 %
    assert out['spill'] == 22.94
    assert METRICS.get('ContextSpillMetric') is ContextSpillMetric


def test_errors(meta_file, tmp_path):
    metric = ContextSpillMetric(thr=THR, num_classes=3, meta_file=meta_file)
    with pytest.raises(KeyError, match=r"'z'.*meta\.json"):
        metric.process({}, _samples([image_b()], ['z']))
    with pytest.raises(FileNotFoundError, match='nowhere.json'):
        ContextSpillMetric(meta_file=str(tmp_path / 'nowhere.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": {"a": {}}}')
    with pytest.raises(ValueError, match=r'bad\.json'):
        ContextSpillMetric(meta_file=str(bad))
    cam, keys, gt = image_a()
    with pytest.raises(ValueError, match='do not match'):
        context_spill(cam[:, :3], gt, keys, THR)


def test_reads_the_generators_meta(voc_root):
    contexts = read_contexts(osp.join(voc_root, 'meta.json'))
    with open(osp.join(voc_root, 'meta.json')) as f:
        meta = json.load(f)
    assert set(contexts) == set(meta['images'])
    assert all(1 <= c <= 20 for c in contexts.values())
