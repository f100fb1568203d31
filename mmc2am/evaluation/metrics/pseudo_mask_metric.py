"""Score the pseudo-masks of a mask stage.

The mask stages (CRF confident labels, IRN's random walk) are ``tools/test.py``
runs: :class:`mmc2am.datasets.CAMFileDataset` yields each image with its CAM
file and its ground truth when there is one; the model
(:class:`mmc2am.models.crf.CRFConfidentLabels`,
:class:`mmc2am.models.irn.IRNet`) predicts ``pred_sem_seg``;
:class:`mmc2am.engine.MaskFileHook` writes it as a VOC palette PNG
(``<work_dir>/masks`` by default) and this metric scores it.

Resuming: a mask that exists is not recomputed (``mask_done``); the hook
reads it back into ``pred_sem_seg`` and this metric reads back its sweep
counts from ``<mask folder>/.sweep/<img_id>.npz`` (written here before the
hook writes the PNG), so the report of a resumed run covers every image.
"""
import glob
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from mmc2am.cam.pseudo_mask import IGNORE_INDEX, confusion_areas
from mmc2am.registry import METRICS
from mmc2am.utils.io import atomic_open
from mmc2am.visualization.sweep_curve import log_dir, save_curve

from .seed_metric import (
    _nanmean,
    _to_numpy,
    confusion_iou,
    seed_counts,
    sweep_confusions,
)

SWEEP_DIR = '.sweep'
RESULTS_FILE = 'pseudo_mask_results.json'


def _sweep_path(mask_path: Optional[str]) -> Optional[str]:
    """``<mask folder>/.sweep/<img_id>.npz``; None without a mask file."""
    if not mask_path:
        return None
    folder, name = osp.split(mask_path)
    return osp.join(folder, SWEEP_DIR, osp.splitext(name)[0] + '.npz')


@METRICS.register_module()
class PseudoMaskMetric(BaseMetric):
    """Score each sample's ``pred_sem_seg`` against its ground truth.

    Registered in mmengine's root ``METRICS`` (every scope). Every data
    sample carries ``pred_sem_seg``, ``gt_sem_seg`` when the image has
    ground truth and, from :class:`mmc2am.engine.MaskFileHook`,
    ``mask_path`` (the mask's file) and ``mask_done`` (made by an earlier
    run, read back from the file).

    Scores, over the images with ground truth (mIoU in percent, classes
    absent from both masks and ground truth left out as mmseg does):

    - ``mIoU``: a mask pixel 255 on a labelled ground-truth pixel is a miss
      (the number comparable to masks without ignore);
    - ``mIoU_confident``: only the pixels the mask labels (CRF stage);
    - ``ignored_pct``: share of labelled ground-truth pixels set to 255;
    - with ``sweep_bg_thrs`` and ``seg_scores`` (the random walk's (K, H,
      W) scores): the mIoU at each background score of the sweep from the
      same scores (one walk per image), ``best_bg_thr`` and ``best_mIoU``.

    The per-class table is logged; everything (per-class IoU, the sweep) is
    written to ``pseudo_mask_results.json`` (and the sweep plotted,
    :func:`mmc2am.visualization.save_curve`) in ``output_dir``, by default
    the runner's log folder.

    Args:
        sweep_bg_thrs (Sequence[float], optional): Background scores to
            score the walked scores at. None: no sweep.
        scores_key (str): Data-sample field with the (K, H, W) scores.
        num_classes (int, optional): Labels including background (21);
            defaults to the dataset's classes.
        ignore_index (int): Ignored label of masks and ground truth.
        output_dir (str, optional): Folder of the results file and curve.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 sweep_bg_thrs: Optional[Sequence[float]] = None,
                 scores_key: str = 'seg_scores',
                 num_classes: Optional[int] = None,
                 ignore_index: int = IGNORE_INDEX,
                 output_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.sweep = None
        if sweep_bg_thrs is not None:
            thr = np.unique(np.asarray(sweep_bg_thrs, dtype=np.float64))
            if thr.ndim != 1 or thr.size == 0 or np.isnan(thr).any():
                raise ValueError('sweep_bg_thrs must be a non-empty list of '
                                 f'numbers, got {sweep_bg_thrs}')
            self.sweep = thr  # sorted, as seed_counts needs
        self.scores_key = scores_key
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.output_dir = output_dir
        self._sweep_dirs = set()  # folders of the saved sweep counts

    def _class_names(self) -> List[str]:
        names = list((self.dataset_meta or {}).get('classes', ()) or ())
        n = self.num_classes or len(names)
        if not n:
            raise ValueError('PseudoMaskMetric needs num_classes or '
                             "dataset_meta['classes']")
        return names if len(names) == n else [f'class{i}' for i in range(n)]

    # ---------------------------------------------------------------- process
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep per-image areas (and sweep counts) of the masks."""
        num_labels = len(self._class_names())
        for sample in data_samples:
            path = sample.get('mask_path') or sample.get('img_path')
            done = bool(sample.get('mask_done', False))
            pred = _to_numpy(sample['pred_sem_seg']).astype(np.uint8)
            pred = pred.reshape(pred.shape[-2:])
            result = dict(made=not done)
            gt = sample.get('gt_sem_seg')
            if gt is not None:
                gt = _to_numpy(gt)
                gt = gt.reshape(gt.shape[-2:])
                if gt.shape != pred.shape:
                    raise ValueError(f'{path}: mask {pred.shape} and ground '
                                     f"truth {sample.get('seg_map_path')} "
                                     f'{gt.shape} differ in size')
                result.update(confusion_areas(pred, gt, num_labels))
                if self.sweep is not None:
                    result['sweep'] = self._sweep_counts(
                        sample, gt, done, num_labels)
            self.results.append(result)

    def _sweep_counts(self, sample: dict, gt: np.ndarray, done: bool,
                      num_labels: int) -> Optional[tuple]:
        """(index, count) of the sweep (see :func:`seed_counts`), computed
        and saved beside the mask (before the hook writes the mask: an
        existing PNG means both exist), or read back for a finished one."""
        path = _sweep_path(sample.get('mask_path'))
        if path is not None:
            self._sweep_dirs.add(osp.dirname(path))
        if done:
            if path is None or not osp.isfile(path):
                return None  # made without a sweep: counted as missing
            with np.load(path) as f:
                if not np.array_equal(f['thresholds'], self.sweep):
                    return None
                return f['index'], f['count']
        if self.scores_key not in sample:
            raise KeyError(f"{sample.get('img_path')}: no "
                           f'{self.scores_key!r} to sweep the background '
                           'score over (sweep_bg_thrs needs the random walk)')
        scores = _to_numpy(sample[self.scores_key])
        keys = np.asarray(sample['cam_keys'], dtype=np.int64)
        # compared in the scores' dtype, as the walk's labels are
        index, count = seed_counts(scores, keys + 1, gt,
                                   self.sweep.astype(scores.dtype),
                                   num_labels, self.ignore_index)
        if path is not None:
            with atomic_open(path, 'wb') as f:
                np.savez(f, index=index, count=count, thresholds=self.sweep)
        return index, count

    # ---------------------------------------------------------------- compute
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """mIoU of the masks (and the sweep) from the gathered results."""
        from mmseg.evaluation.metrics import IoUMetric

        logger: MMLogger = MMLogger.get_current_instance()
        names = self._class_names()
        scored = [r for r in results if 'strict' in r]
        metrics = dict(num_images=len(results),
                       num_made=sum(r['made'] for r in results),
                       num_eval=len(scored))
        report = dict(metrics)
        if scored:
            # float64 sums: float32 pixel counts stop being exact at 2^24
            strict = np.sum([r['strict'] for r in scored], 0, np.float64)
            confident = np.sum([r['confident'] for r in scored], 0,
                               np.float64)
            m = IoUMetric.total_area_to_metrics(
                *torch.from_numpy(strict), metrics=['mIoU'])
            mc = IoUMetric.total_area_to_metrics(
                *torch.from_numpy(confident), metrics=['mIoU'])
            valid = sum(r['valid'] for r in scored)
            metrics.update(
                mIoU=round(float(np.nanmean(m['IoU'])) * 100, 2),
                mIoU_confident=round(float(np.nanmean(mc['IoU'])) * 100, 2),
                ignored_pct=round(
                    100 * sum(r['ignored'] for r in scored) / max(valid, 1),
                    2),
                aAcc=round(float(m['aAcc']) * 100, 2))
            iou = {n: None if math.isnan(v) else round(float(v) * 100, 2)
                   for n, v in zip(names, m['IoU'])}
            table = PrettyTable()
            table.add_column('Class', names)
            table.add_column('IoU', ['nan' if v is None else v
                                     for v in iou.values()])
            print_log(f'pseudo-mask per class results ({len(scored)} images '
                      'with ground truth):\n' + table.get_string(), logger)
            report.update(metrics, IoU=iou)
        if self.sweep is not None and scored:
            swept = [r['sweep'] for r in scored if r['sweep'] is not None]
            if len(swept) < len(scored):
                print_log(f'{len(scored) - len(swept)} masks were made '
                          'without sweep counts and are not in the sweep',
                          logger, level=30)
            report.update(self._sweep_report(swept, len(names), logger))
            metrics.update({k: report[k] for k in (
                'best_bg_thr', 'best_mIoU', 'sweep_num_eval')})
        self._write(report, results, logger)
        return metrics

    def _sweep_report(self, swept: list, num_labels: int,
                      logger: MMLogger) -> dict:
        T = len(self.sweep)
        counts = np.zeros(num_labels * num_labels * (T + 1), np.int64)
        for index, count in swept:
            np.add.at(counts, index, count)
        conf = sweep_confusions(counts.reshape(num_labels, num_labels, T + 1))
        miou = _nanmean(confusion_iou(conf)) * 100
        curve = {float(t): None if np.isnan(v) else round(float(v), 2)
                 for t, v in zip(self.sweep, miou)}
        best = int(np.nanargmax(miou)) if not np.isnan(miou).all() else 0
        best_thr = float(self.sweep[best])
        print_log('mIoU by background score: ' + ', '.join(
            f'{t:.2f}: {v}' for t, v in curve.items()) +
            f' (best {best_thr:.2f}, {len(swept)} images)', logger)
        return dict(sweep_mIoU=curve, best_bg_thr=best_thr,
                    best_mIoU=curve[best_thr], sweep_num_eval=len(swept))

    def _write(self, report: dict, results: list, logger: MMLogger) -> None:
        """The results file and curve; leftovers of killed writes removed
        (all ranks have finished writing when this runs)."""
        out_dir = self.output_dir or log_dir()
        if out_dir is not None:
            path = osp.join(out_dir, RESULTS_FILE)
            with atomic_open(path, 'w') as f:
                json.dump(report, f, indent=2)
            print_log(f'pseudo-mask results written to {path}', logger)
        if 'sweep_mIoU' in report:
            curve = dict(thresholds=list(report['sweep_mIoU']),
                         mIoU=list(report['sweep_mIoU'].values()),
                         best_threshold=report['best_bg_thr'],
                         best_mIoU=report['best_mIoU'])
            save_curve(curve, 'pseudo_mask_sweep', out_dir,
                       xlabel='background score',
                       ylabel='pseudo-mask mIoU (%)')
        for folder in self._sweep_dirs:
            for tmp in glob.glob(osp.join(folder, '.*.tmp')):
                try:
                    os.remove(tmp)
                except FileNotFoundError:
                    pass

__all__ = ['PseudoMaskMetric']
