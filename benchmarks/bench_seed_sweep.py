"""Cost of SeedMetric's 96-threshold sweep versus one threshold.

Synthetic VOC-sized CAMs (375 x 500, 1-3 classes, smooth blobs) and masks
(with a 255 border). Timed per image, in-memory (no file reading), the
metric's ``process`` plus ``compute_metrics``:

- ``sweep96``: ``SeedMetric()`` (0.00 ... 0.95, 96 thresholds);
- ``sweep1``: ``SeedMetric(thresholds=[0.15])``, the same code, one
  threshold;
- ``irn1``: IRN's ``eval_cam.py`` for one threshold (pad with t, argmax,
  map to ids, bincount confusion), what a user re-runs per threshold.

Rounds alternate the methods; a repeat takes the median over its rounds of
each time, and ``--repeats`` (3) repeats give the median and [min - max] of
each figure, printed with the conditions (threads, load average before and
after). The three answers are checked to agree at t = 0.15.

    python benchmarks/bench_seed_sweep.py [--images 40] [--rounds 5]
        [--repeats 3]
"""
import argparse
import time

import numpy as np
from conditions import conditions, load_now, spread


def make_data(n, seed=0, h=375, w=500, num_classes=20):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    data = []
    for _ in range(n):
        k = int(rng.integers(1, 4))
        keys = np.sort(rng.choice(num_classes, k, replace=False))
        cams = np.empty((k, h, w), np.float32)
        gt = np.zeros((h, w), np.uint8)
        for j, c in enumerate(keys):
            cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
            sy, sx = rng.uniform(0.1, 0.3) * h, rng.uniform(0.1, 0.3) * w
            d = ((yy - cy) / sy)**2 + ((xx - cx) / sx)**2
            cams[j] = np.exp(-d / 2) * rng.uniform(0.8, 1)
            gt[d < 1.5] = c + 1
        cams /= cams.reshape(k, -1).max(1)[:, None, None] + 1e-5
        gt[:4] = gt[:, :4] = 255
        data.append((cams, keys, gt))
    return data


def irn_one_threshold(data, t, n_labels=21):
    conf = np.zeros((n_labels, n_labels), np.int64)
    for cams, keys, gt in data:
        planes = np.pad(cams, ((1, 0), (0, 0), (0, 0)), constant_values=t)
        labels = np.pad(keys + 1, (1, 0))[np.argmax(planes, axis=0)]
        valid = gt != 255
        conf += np.bincount(
            n_labels * gt[valid].astype(np.int64) + labels[valid],
            minlength=n_labels**2).reshape(n_labels, n_labels)
    tp = np.diag(conf)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.nanmean(tp / (conf.sum(0) + conf.sum(1) - tp))


def run_metric(data, thresholds):
    from mmc2am.evaluation.metrics import SeedMetric
    metric = SeedMetric(
        thresholds=thresholds, num_classes=20, save_curve=False)
    metric.process({}, [
        dict(high_res_cam=c, cam_keys=k, gt_seg_map=g) for c, k, g in data
    ])
    return metric, metric.compute_metrics(metric.results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=40)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    print(conditions(flush_denormal=False))

    from mmengine.logging import MMLogger
    MMLogger.get_instance('bench', log_level='WARNING')  # quiet tables
    data = make_data(args.images)

    def timed(fn):
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out

    run_metric(data[:1], None)  # warm-up: imports, first-call set-up
    meds = {'sweep96': [], 'sweep1': [], 'irn1': []}  # per repeat
    for _ in range(args.repeats):
        times = {k: [] for k in meds}
        for _ in range(args.rounds):
            t, (m96, r96) = timed(lambda: run_metric(data, None))
            times['sweep96'].append(t)
            t, (_, r1) = timed(lambda: run_metric(data, [0.15]))
            times['sweep1'].append(t)
            t, irn = timed(lambda: irn_one_threshold(data, 0.15))
            times['irn1'].append(t)
        for k, v in times.items():
            meds[k].append(float(np.median(v)))

    # Same answer at 0.15 from the sweep, the one-threshold metric and IRN.
    from mmc2am.evaluation.metrics.seed_metric import (
        _nanmean,
        confusion_iou,
        sweep_confusions,
    )
    counts = np.zeros(21 * 21 * 97, np.int64)
    for index, count in m96.results:
        np.add.at(counts, index, count)
    miou96 = _nanmean(confusion_iou(sweep_confusions(
        counts.reshape(21, 21, 97))))
    assert abs(miou96[15] - irn) < 1e-12, (miou96[15], irn)
    assert r1['mIoU'] == round(irn * 100, 2)
    result_bytes = sum(i.nbytes + c.nbytes for i, c in m96.results)

    n = args.images
    print(f'{n} images 375x500, 1-3 classes, {args.repeats} repeats x '
          f'{args.rounds} rounds; median [min - max] over the repeats; load '
          f'average after: {load_now()}')
    for k, v in meds.items():
        print(f'  {k:8s} {spread([t / n * 1e3 for t in v])} ms/image')
    ratio = {k: [a / b for a, b in zip(meds['sweep96'], meds[k])]
             for k in ('sweep1', 'irn1')}
    print(f'  sweep96 / sweep1 = {spread(ratio["sweep1"])}x')
    print(f'  sweep96 / irn1   = {spread(ratio["irn1"])}x (target <= 3x)')
    print(f'  sweep96 / (96 x irn1) = '
          f'{spread([r / 96 for r in ratio["irn1"]], "{:.3f}")}x '
          '(re-running IRN per threshold)')
    print(f'  per-image result kept for gathering: '
          f'{result_bytes / n:.0f} bytes (sweep96)')
    print(f'  best threshold {r96["best_threshold"]:.2f}, mIoU '
          f'{r96["mIoU"]:.2f}; at 0.15: {irn * 100:.2f}')


if __name__ == '__main__':
    main()
