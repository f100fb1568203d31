"""Context spill: how much of a class's CAM lies off its objects (issue 26).

Seed mIoU mixes two failures: a CAM that misses parts of its object and a
CAM that fires on other pixels. On context-confounded data
(``tools/generate_voc.py``) the second is the confounder at work: a class's
CAM spreads onto its typical context. :func:`context_spill` measures it per
image and class; :class:`ContextSpillMetric` aggregates it over a dataset
and, where the generator recorded which class's context each image's
background is (``meta.json``), splits out the mass on the class's own
context.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from mmc2am.registry import METRICS

from .seed_metric import _nanmean, _sample_name, _to_numpy

__all__ = ['ContextSpillMetric', 'context_spill', 'read_contexts']


def context_spill(cam: np.ndarray,
                  gt: np.ndarray,
                  labels: Sequence[int],
                  thr: float,
                  context_mask: Optional[np.ndarray] = None,
                  ignore_index: int = 255) -> Dict[str, np.ndarray]:
    """Above-threshold CAM mass of each class, and its shares off the class.

    The *mass* of class ``k`` is the sum of the CAM values ``cam[k] > thr``
    (a sum of values, not a count of pixels: a pixel at 0.9 weighs three
    times one at 0.3) over the pixels whose ground truth is not
    ``ignore_index`` (ignored pixels count in neither the numerator nor the
    denominator). ``outside`` is the part of it on pixels with ``gt !=
    labels[k] + 1`` (background or other classes); ``context`` the part on
    ``context_mask[k]`` pixels (outside the class as well).

    Args:
        cam (np.ndarray): (K, H, W) CAMs of the image's K classes (as
            :class:`SeedMetric` takes them, normally max-normalised).
        gt (np.ndarray): (H, W) label ids: 0 background, ``c + 1`` class
            index ``c``, ``ignore_index`` unlabelled.
        labels (Sequence[int]): (K,) 0-based class index of each map.
        thr (float): CAM values strictly above it count.
        context_mask (np.ndarray, optional): (K, H, W) or (H, W) bool, the
            pixels that are the class's context (one mask for all classes
            when 2-D). None: no ``context`` entry.
        ignore_index (int): Defaults to 255.

    Returns:
        dict: ``mass``, ``outside`` (and ``context``) (K,) float64 sums;
        ``spill`` = ``outside / mass`` (and ``context_spill`` = ``context /
        mass``) (K,), NaN for a class without above-threshold mass (0 / 0:
        nothing to spill; such a class adds 0 to the dataset's sums).
    """
    cam = np.asarray(cam)
    if not np.issubdtype(cam.dtype, np.floating):
        cam = cam.astype(np.float32)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) == 0 and cam.size == 0:
        cam = np.zeros((0, ) + gt.shape, np.float32)
    if cam.ndim != 3 or cam.shape[1:] != gt.shape or \
            cam.shape[0] != len(labels):
        raise ValueError(f'CAMs of shape {cam.shape} do not match the '
                         f'ground truth of shape {gt.shape} and the '
                         f'{len(labels)} class keys')
    valid = gt != ignore_index
    # compared in the CAM's dtype (as SeedMetric's seeds): a float32 0.2 is
    # not above the threshold 0.2, summed in float64
    above = (cam > cam.dtype.type(thr)) & valid
    weight = np.where(above, cam.astype(np.float64), 0.0)  # (K, H, W)
    off = gt[None] != (labels[:, None, None] + 1)
    out = dict(mass=weight.sum((1, 2)), outside=(weight * off).sum((1, 2)))
    if context_mask is not None:
        ctx = np.broadcast_to(np.asarray(context_mask, dtype=bool),
                              cam.shape)
        out['context'] = (weight * (off & ctx)).sum((1, 2))
    with np.errstate(divide='ignore', invalid='ignore'):
        out['spill'] = out['outside'] / out['mass']
        if 'context' in out:
            out['context_spill'] = out['context'] / out['mass']
    return out


def read_contexts(meta_file: str) -> Dict[str, int]:
    """Image id -> class id (1-based, VOC order) whose context the image's
    background is, from the generator's ``meta.json``
    (:func:`mmc2am.testing.generate_voc_dataset`: ``images[id]['context']``).
    """
    if not osp.isfile(meta_file):
        raise FileNotFoundError(f'ContextSpillMetric: meta file not found: '
                                f'{meta_file}')
    with open(meta_file) as f:
        meta = json.load(f)
    try:
        return {i: int(v['context']) for i, v in meta['images'].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f'ContextSpillMetric: {meta_file} has no '
                         f"images[<id>]['context'] ({e!r}): not a "
                         'generated dataset\'s meta.json') from None


def _img_id(sample: dict) -> Optional[str]:
    """``img_id``, else the stem of ``img_path`` / ``seg_map_path``."""
    if sample.get('img_id') is not None:
        return str(sample['img_id'])
    for key in ('img_path', 'seg_map_path'):
        if sample.get(key) is not None:
            return osp.splitext(osp.basename(str(sample[key])))[0]
    return None


@METRICS.register_module()
class ContextSpillMetric(BaseMetric):
    """Share of each class's above-threshold CAM mass off its objects.

    Takes the data samples :class:`SeedMetric` takes (``high_res_cam``
    (K, H, W), ``cam_keys`` (K,), ``gt_seg_map`` (H, W)), so both can sit
    in one ``test_evaluator`` list. Per image and class present,
    :func:`context_spill` gives the class's mass (sum of its CAM values
    above ``thr`` on labelled pixels), the part outside its ground-truth
    objects and, with ``meta_file``, the part on its own context: the
    background pixels (gt 0) of an image whose recorded context is this
    class. Over the dataset, per class, the shares are mass-weighted (sum
    of the part / sum of the mass over the images), so a large activation
    counts more than a faint one; the reported numbers are the means over
    the classes with any mass (a class without, NaN, is left out of the
    mean, as in SeedMetric's mIoU).

    Reported (percent): ``spill``, and ``context_spill`` when
    ``meta_file`` is given; the per-class table goes to the logger.

    Args:
        thr (float): CAM values strictly above it count. Defaults to 0.15
            (IRN's VOC seed threshold; use the seed's best threshold t*).
        meta_file (str, optional): The generator's ``meta.json``; each
            evaluated image must be in it (its ``img_id``, else the stem of
            its ``img_path``). None: no context column.
        num_classes (int, optional): Number of foreground classes C.
            Defaults to the dataset's.
        class_names (Sequence[str], optional): The C names, for the table.
        ignore_index (int): Defaults to 255.
        cam_key (str): Data-sample field with the CAMs.
        keys_key (str): Data-sample field with the class index of each map.
        gt_key (str): Data-sample field with the ground-truth mask.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 thr: float = 0.15,
                 meta_file: Optional[str] = None,
                 num_classes: Optional[int] = None,
                 class_names: Optional[Sequence[str]] = None,
                 ignore_index: int = 255,
                 cam_key: str = 'high_res_cam',
                 keys_key: str = 'cam_keys',
                 gt_key: str = 'gt_seg_map',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thr = float(thr)
        self.meta_file = meta_file
        self.contexts = None if meta_file is None else read_contexts(
            meta_file)
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names else None
        self.ignore_index = ignore_index
        self.cam_key = cam_key
        self.keys_key = keys_key
        self.gt_key = gt_key

    def _foreground_names(self) -> List[str]:
        """The C foreground class names (as SeedMetric finds them)."""
        names = self.class_names or list(
            (self.dataset_meta or {}).get('classes', ()) or ())
        if names and str(names[0]).lower() in ('background', 'bg'):
            names = names[1:]
        if self.num_classes is not None:
            return names or [f'class{i}' for i in range(self.num_classes)]
        if not names:
            raise ValueError('ContextSpillMetric needs num_classes, '
                             "class_names or dataset_meta['classes']")
        return names

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each image's per-class masses: ``(keys, mass, outside,
        context)``, (K,) arrays (``context`` None without ``meta_file``).

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Model outputs (see the class doc).
        """
        for sample in data_samples:
            keys = _to_numpy(sample[self.keys_key]).astype(np.int64).ravel()
            gt = _to_numpy(sample[self.gt_key])
            if gt.ndim == 3 and gt.shape[0] == 1:
                gt = gt[0]
            if self.cam_key in sample:
                cam = _to_numpy(sample[self.cam_key])
            elif keys.size == 0:
                cam = np.zeros((0, ) + gt.shape, np.float32)
            else:
                raise KeyError(f'ContextSpillMetric: sample '
                               f'{_sample_name(sample)} has no '
                               f'{self.cam_key!r}')
            ctx = None
            if self.contexts is not None:
                img_id = _img_id(sample)
                if img_id not in self.contexts:
                    raise KeyError(f'ContextSpillMetric: image {img_id!r} '
                                   f'({_sample_name(sample)}) is not in '
                                   f'{self.meta_file}')
                # the background is the context of class contexts[id] - 1
                ctx = (keys == self.contexts[img_id] - 1)[:, None, None] & \
                    (gt == 0)[None]
            try:
                r = context_spill(cam, gt, keys, self.thr, ctx,
                                  self.ignore_index)
            except ValueError as e:
                raise ValueError(f'{_sample_name(sample)}: {e}') from None
            self.results.append(
                (keys, r['mass'], r['outside'], r.get('context')))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Mass-weighted per-class shares, their mean over classes.

        Args:
            results (list): ``(keys, mass, outside, context)`` per image.

        Returns:
            dict: ``spill`` (and ``context_spill``), percent; NaN when no
            class has any mass.
        """
        names = self._foreground_names()
        C = len(names)
        mass, outside, context = np.zeros(C), np.zeros(C), np.zeros(C)
        for keys, m, o, c in results:
            np.add.at(mass, keys, m)
            np.add.at(outside, keys, o)
            if c is not None:
                np.add.at(context, keys, c)
        with np.errstate(divide='ignore', invalid='ignore'):
            spill = outside / np.where(mass > 0, mass, np.nan)
            ctx = context / np.where(mass > 0, mass, np.nan)
        table = PrettyTable()
        table.add_column('Class', names)
        table.add_column('mass', np.round(mass, 1).tolist())
        table.add_column('spill', np.round(spill * 100, 2).tolist())
        out = dict(spill=float(np.round(_nanmean(spill) * 100, 2)))
        if self.contexts is not None:
            table.add_column('context_spill', np.round(ctx * 100, 2).tolist())
            out['context_spill'] = float(np.round(_nanmean(ctx) * 100, 2))
        logger: MMLogger = MMLogger.get_current_instance()
        print_log(f'CAM mass above {self.thr} off the objects, per class '
                  f'({len(results)} images):\n' + table.get_string(), logger)
        return out
