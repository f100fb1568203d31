"""Seed mIoU of CAMs at every background threshold of a sweep, in one pass.

The seed of an image at background threshold ``t`` is IRN's
(``step/eval_cam.py``): a constant plane ``t`` is put in front of the
(max-normalised) CAMs of the image's ground-truth classes, the argmax over the
planes is mapped to class ids (0 = background). ``np.argmax`` picks the first
plane on ties, so a pixel is foreground (class ``argmax_k cam_k``) iff
``max_k cam_k > t`` and background otherwise.

For a sorted sweep ``t_0 < ... < t_{T-1}`` a pixel with peak ``m`` is
foreground exactly at the thresholds ``t_j < m``, i.e. for ``j < b`` with
``b = searchsorted(t, m, side='left')``. So one bincount over
``(gt, argmax class, b)`` per image holds the confusion matrices of every
threshold: cumulative sums over ``b`` recover them (see
:func:`sweep_confusions`). The CAM is read once, whatever the number of
thresholds.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from mmc2am.cam.labels import peak_and_label
from mmc2am.registry import METRICS
from mmc2am.visualization.sweep_curve import save_curve

# 0.00, 0.01, ..., 0.95: on VOC the best seed threshold lies near 0.15, on
# strongly confounded data it can lie far higher.
DEFAULT_THRESHOLDS = tuple(np.round(np.arange(96) * 0.01, 2).tolist())


def _to_numpy(x) -> np.ndarray:
    """Tensor / array / mmengine ``PixelData`` dict to a numpy array."""
    if isinstance(x, dict) and 'data' in x:  # PixelData.to_dict()
        x = x['data']
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _sample_name(sample: dict) -> str:
    """The mask (or image) file of a sample, for error messages."""
    for key in ('seg_map_path', 'img_path', 'img_id'):
        if sample.get(key) is not None:
            return str(sample[key])
    return '<unnamed sample>'


def seed_counts(cams: np.ndarray,
                labels: np.ndarray,
                gt: np.ndarray,
                thresholds: np.ndarray,
                num_labels: int,
                ignore_index: int = 255) -> Tuple[np.ndarray, np.ndarray]:
    """Sparse ``(gt, argmax label, bucket)`` pixel counts of one image.

    Args:
        cams (np.ndarray): (K, H, W) CAMs of the image's K classes
            (normally max-normalised to [0, 1]). K may be 0 (a
            background-only image: every pixel is background at every
            threshold); then any empty array is accepted.
        labels (np.ndarray): (K,) label id of each map (1-based: 0 is
            background).
        gt (np.ndarray): (H, W) ground-truth label ids, ``ignore_index``
            for unlabelled pixels.
        thresholds (np.ndarray): (T,) ascending background thresholds, in the
            dtype of ``cams`` (the comparison is then the reference's
            ``argmax`` over ``[t, cams]`` bit for bit).
        num_labels (int): N, number of label ids (background + classes).
        ignore_index (int): Label ignored in ``gt``.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``index`` (int32, M) into the
        flattened (N, N, T + 1) count array and the ``count`` (int64, M) of
        each; M is the number of distinct (gt, label, bucket) triples, a few
        hundred at most in practice, so results stay small when gathered
        across ranks.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) == 0 and cams.size == 0:
        # a background-only image: whatever empty shape its maps came in
        cams = np.zeros((0, ) + gt.shape, dtype=cams.dtype)
    if cams.ndim != 3 or cams.shape[1:] != gt.shape:
        raise ValueError(f'CAMs of shape {cams.shape} do not match the '
                         f'ground truth of shape {gt.shape}')
    if cams.shape[0] != len(labels):
        raise ValueError(f'{cams.shape[0]} CAMs for {len(labels)} class '
                         'keys')
    N, T = num_labels, len(thresholds)
    # Ignored pixels go to an extra ground-truth row N, dropped at the end:
    # cheaper than gathering the valid pixels of every CAM plane.
    gt = gt.astype(np.int64)
    in_range = (gt >= 0) & (gt < N)
    row = np.where(in_range, gt, N)
    if not (in_range | (gt == ignore_index)).all():
        bad = np.unique(gt[~in_range & (gt != ignore_index)])
        raise ValueError(f'ground-truth labels outside [0, {N}) and != '
                         f'{ignore_index}: {bad}')
    if len(labels) == 0:
        # No class present: background at every threshold (bucket 0).
        col_bucket = 0
    else:
        # The background-plane argmax of every threshold at once: the peak
        # and its first class do not depend on the threshold.
        peak, pred = peak_and_label(cams, labels)
        # Number of thresholds strictly below the peak: the pixel is
        # foreground at exactly those (ties go to background).
        col_bucket = pred * (T + 1) + np.searchsorted(
            thresholds, peak, side='left')
    flat = row * (N * (T + 1)) + col_bucket
    counts = np.bincount(
        np.ravel(flat), minlength=(N + 1) * N * (T + 1))[:N * N * (T + 1)]
    index = np.flatnonzero(counts)
    return index.astype(np.int32), counts[index]


def sweep_confusions(counts: np.ndarray) -> np.ndarray:
    """Confusion matrices at every threshold from the bucketed counts.

    Args:
        counts (np.ndarray): (N, N, T + 1) pixel counts by (gt, argmax label,
            bucket), bucket ``b`` = number of thresholds below the pixel's
            peak CAM.

    Returns:
        np.ndarray: (T, N, N) int64 confusion matrices (rows: ground truth,
        columns: prediction) at each threshold.
    """
    cum = np.cumsum(counts, axis=2)  # cum[..., j]: buckets <= j
    total = cum[..., -1:]
    # Threshold j: foreground where bucket > j, background where bucket <= j.
    conf = (total - cum[..., :-1]).transpose(2, 0, 1).copy()
    conf[:, :, 0] += cum[..., :-1].sum(axis=1).T
    return conf


def confusion_iou(conf: np.ndarray) -> np.ndarray:
    """Per-class IoU of (..., N, N) confusion matrices; NaN where 0 / 0."""
    tp = np.diagonal(conf, axis1=-2, axis2=-1).astype(np.float64)
    union = conf.sum(-1) + conf.sum(-2) - tp
    with np.errstate(divide='ignore', invalid='ignore'):
        return tp / union


def _nanmean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``np.nanmean`` without the all-NaN warning (the result is NaN)."""
    valid = ~np.isnan(x)
    n = valid.sum(axis)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(valid, x, 0).sum(axis) / np.where(n, n, np.nan)


@METRICS.register_module()
class SeedMetric(BaseMetric):
    """Seed mIoU of CAMs over a sweep of background thresholds.

    Registered in mmengine's root ``METRICS``, so it builds from the mmseg and
    mmpretrain scopes alike. Every data sample must carry:

    - ``cam_key`` (default ``high_res_cam``): (K, H, W) CAMs of the image's
      K ground-truth classes at full resolution, max-normalised (as written
      by :func:`mmc2am.cam.predict_cams`);
    - ``keys_key`` (default ``cam_keys``): (K,) 0-based class index of each
      map;
    - ``gt_key`` (default ``gt_seg_map``): (H, W) ground-truth mask with
      0 = background, 1..C = classes and ``ignore_index`` unlabelled
      (an mmseg ``gt_sem_seg`` PixelData also works).

    Per image only the sparse (gt, label, bucket) counts are kept
    (:func:`seed_counts`), so results gathered across ranks stay small, and
    each image is one result (duplicates padded by a ``round_up`` sampler are
    dropped by mmengine's ``collect_results``).

    The reported metrics are ``mIoU`` (percent, at the best threshold),
    ``best_threshold`` and ``aAcc`` (percent, at the best threshold). The
    per-class table at the best threshold goes to the logger; the whole
    mIoU-vs-threshold curve is written as ``seed_sweep.json`` and
    ``seed_sweep.png`` into ``output_dir`` (default: the runner's log
    folder, ``work_dir/<timestamp>``) and, when a Visualizer exists, the plot
    is sent to its backends (e.g. TensorBoard).

    Args:
        thresholds (Sequence[float], optional): Background thresholds.
            Defaults to 0.00, 0.01, ..., 0.95 (96 values).
        num_classes (int, optional): Number of foreground classes C. Defaults
            to the dataset's classes (without a leading ``background``).
        class_names (Sequence[str], optional): The C foreground names, for
            the table. Defaults to the dataset's.
        ignore_index (int): Ground-truth label to ignore. Defaults to 255.
        cam_key (str): Data-sample field with the CAMs.
        keys_key (str): Data-sample field with the class index of each map.
        gt_key (str): Data-sample field with the ground-truth mask.
        output_dir (str, optional): Folder for the curve files.
        save_curve (bool): Write the curve files. Defaults to True.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 thresholds: Optional[Sequence[float]] = None,
                 num_classes: Optional[int] = None,
                 class_names: Optional[Sequence[str]] = None,
                 ignore_index: int = 255,
                 cam_key: str = 'high_res_cam',
                 keys_key: str = 'cam_keys',
                 gt_key: str = 'gt_seg_map',
                 output_dir: Optional[str] = None,
                 save_curve: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        thr = np.asarray(
            DEFAULT_THRESHOLDS if thresholds is None else thresholds,
            dtype=np.float64)
        if thr.ndim != 1 or thr.size == 0 or np.isnan(thr).any():
            raise ValueError(f'thresholds must be a non-empty list of '
                             f'numbers, got {thresholds}')
        self.thresholds = np.unique(thr)  # sorted, as searchsorted needs
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names else None
        self.ignore_index = ignore_index
        self.cam_key = cam_key
        self.keys_key = keys_key
        self.gt_key = gt_key
        self.output_dir = output_dir
        self.save_curve = save_curve

    # ------------------------------------------------------------------ names
    def _foreground_names(self) -> List[str]:
        """The C foreground class names (background excluded)."""
        if self.class_names is not None:
            names = list(self.class_names)
        else:
            names = list((self.dataset_meta or {}).get('classes', ()) or ())
            if names and str(names[0]).lower() in ('background', 'bg'):
                names = names[1:]  # an mmseg-style 21-class list
        if self.num_classes is not None:
            if names and len(names) != self.num_classes:
                raise ValueError(f'num_classes={self.num_classes} but '
                                 f'{len(names)} class names: {names}')
            return names or [f'class{i}' for i in range(self.num_classes)]
        if not names:
            raise ValueError('SeedMetric needs num_classes, class_names or '
                             "dataset_meta['classes']")
        return names

    # ---------------------------------------------------------------- process
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the sparse bucketed pixel counts of each image.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Model outputs (see the class doc).
        """
        num_labels = len(self._foreground_names()) + 1
        for sample in data_samples:
            keys = _to_numpy(sample[self.keys_key]).astype(np.int64).ravel()
            gt = _to_numpy(sample[self.gt_key])
            if gt.ndim == 3 and gt.shape[0] == 1:
                gt = gt[0]
            if self.cam_key in sample:
                cams = _to_numpy(sample[self.cam_key])
            elif keys.size == 0:  # a background-only image may carry none
                cams = np.zeros((0, ) + gt.shape, np.float32)
            else:
                raise KeyError(f'SeedMetric: sample {_sample_name(sample)} '
                               f'has no {self.cam_key!r}')
            if cams.dtype != np.float64:
                cams = cams.astype(np.float32, copy=False)
            # Compare in the CAM's dtype, as the reference does when it pads
            # the float32 CAMs with the threshold.
            thr = self.thresholds.astype(cams.dtype)
            try:
                counts = seed_counts(cams, keys + 1, gt, thr, num_labels,
                                     self.ignore_index)
            except ValueError as e:
                raise ValueError(f'{_sample_name(sample)}: {e}') from None
            self.results.append(counts)

    # ---------------------------------------------------------------- compute
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Best-threshold mIoU from the gathered counts (rank 0 only).

        Args:
            results (list): ``(index, count)`` per image.

        Returns:
            dict: ``mIoU``, ``aAcc`` (percent) and ``best_threshold``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        names = ['background'] + self._foreground_names()
        N, T = len(names), len(self.thresholds)
        counts = np.zeros(N * N * (T + 1), dtype=np.int64)
        for index, count in results:
            np.add.at(counts, index, count)
        conf = sweep_confusions(counts.reshape(N, N, T + 1))  # (T, N, N)
        iou = confusion_iou(conf)  # (T, N)
        miou = _nanmean(iou)  # (T,)
        if np.isnan(miou).all():
            raise ValueError('SeedMetric: no labelled pixel to evaluate')
        best = int(np.nanargmax(miou))  # the lowest threshold on ties
        best_conf = conf[best]
        gt_area = best_conf.sum(1)
        with np.errstate(divide='ignore', invalid='ignore'):
            acc = np.diag(best_conf) / gt_area
        a_acc = np.diag(best_conf).sum() / max(gt_area.sum(), 1)

        table = PrettyTable()
        table.add_column('Class', names)
        table.add_column('IoU', np.round(iou[best] * 100, 2).tolist())
        table.add_column('Acc', np.round(acc * 100, 2).tolist())
        thr_best = float(self.thresholds[best])
        print_log(f'seed per class results at the best background threshold '
                  f'{thr_best:.2f} ({len(results)} images):', logger)
        print_log('\n' + table.get_string(), logger=logger)
        step = max(1, T // 10)
        print_log('seed mIoU by threshold: ' + ', '.join(
            f'{t:.2f}: {m * 100:.2f}'
            for t, m in zip(self.thresholds[::step], miou[::step])), logger)

        curve = dict(
            thresholds=[float(t) for t in self.thresholds],
            mIoU=[None if np.isnan(m) else float(m * 100) for m in miou],
            best_threshold=thr_best,
            best_mIoU=float(miou[best] * 100),
            best_IoU={
                n: None if np.isnan(v) else float(v * 100)
                for n, v in zip(names, iou[best])
            },
            num_images=len(results))
        if self.save_curve:
            save_curve(curve, 'seed_sweep', self.output_dir)

        return dict(
            mIoU=float(np.round(miou[best] * 100, 2)),
            aAcc=float(np.round(a_acc * 100, 2)),
            best_threshold=thr_best)


__all__ = [
    'DEFAULT_THRESHOLDS', 'SeedMetric', 'confusion_iou', 'seed_counts',
    'sweep_confusions'
]
