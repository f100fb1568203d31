"""Pseudo-masks from CAMs: confident foreground / background, IRN's semantics.

IRN's ``cam_to_ir_label`` step, per image with CAMs ``cams`` (K, H, W) of the
present classes ``keys`` (0-based, without background):

1. *Confident foreground*: prepend a constant background plane ``t_fg``,
   take the argmax, and (``mode='crf'``) refine those labels with a dense CRF
   on the image. Pixels labelled background here are "not surely foreground".
2. *Confident background*: the same with the lower ``t_bg``; pixels labelled
   background here are "surely background".
3. Combine: foreground labels of step 1 are kept; a pixel that step 1 calls
   background becomes background only if step 2 agrees, else ignore (255).
   Labels are mapped to VOC ids through ``[0] + (keys + 1)``.

``mode='threshold'`` skips the CRF; then step 3 reduces to the three bands
``max cam >= t_fg`` (argmax class), ``< t_bg`` (background), between (255).

:class:`mmc2am.models.crf.CRFConfidentLabels` runs this per image in
``tools/test.py``; :class:`mmc2am.evaluation.PseudoMaskMetric` writes the
masks and scores them (:func:`confusion_areas`).
"""
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mmc2am.utils.mask_files import load_label_png, save_label_png

from .labels import background_argmax

IGNORE_INDEX = 255

# IRN's ``crf_inference_label``: a label map turned into unaries that trust
# each label with probability ``gt_prob``, a Gaussian smoothness kernel and an
# appearance (bilateral) kernel, 10 mean-field iterations. Keys of
# ``gaussian`` / ``bilateral`` are pydensecrf's ``addPairwise*`` arguments.
DEFAULT_CRF = dict(
    iters=10,
    gt_prob=0.7,
    gaussian=dict(sxy=3, compat=3),
    bilateral=dict(sxy=50, srgb=5, compat=10))

def crf_inference_label(img: np.ndarray,
                        labels: np.ndarray,
                        n_labels: int,
                        iters: int = 10,
                        gt_prob: float = 0.7,
                        gaussian: Optional[dict] = None,
                        bilateral: Optional[dict] = None) -> np.ndarray:
    """Refine a label map with a fully connected CRF (pydensecrf).

    Args:
        img (np.ndarray): (H, W, 3) uint8 image (RGB).
        labels (np.ndarray): (H, W) int labels in ``[0, n_labels)``.
        n_labels (int): Number of labels.
        iters (int): Mean-field iterations.
        gt_prob (float): Confidence given to ``labels`` in the unaries.
        gaussian (dict, optional): ``addPairwiseGaussian`` kwargs
            (``sxy``, ``compat``). Defaults to IRN's ``sxy=3, compat=3``.
        bilateral (dict, optional): ``addPairwiseBilateral`` kwargs
            (``sxy``, ``srgb``, ``compat``). Defaults to IRN's
            ``sxy=50, srgb=5, compat=10``.

    Returns:
        np.ndarray: (H, W) int64 refined labels.
    """
    if n_labels < 2:
        # One label has nothing to decide (and unary_from_labels would
        # divide by n_labels - 1).
        return np.zeros(labels.shape, dtype=np.int64)
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_labels

    gaussian = DEFAULT_CRF['gaussian'] if gaussian is None else gaussian
    bilateral = DEFAULT_CRF['bilateral'] if bilateral is None else bilateral
    h, w = labels.shape
    crf = dcrf.DenseCRF2D(w, h, n_labels)
    # zero_unsure=False: label 0 (background) is a real label, not "unknown".
    crf.setUnaryEnergy(
        unary_from_labels(labels, n_labels, gt_prob=gt_prob, zero_unsure=False))
    crf.addPairwiseGaussian(**gaussian)
    crf.addPairwiseBilateral(
        rgbim=np.ascontiguousarray(img, dtype=np.uint8), **bilateral)
    q = np.asarray(crf.inference(iters)).reshape(n_labels, h, w)
    return q.argmax(axis=0)


def cam_to_pseudo_mask(cams: np.ndarray,
                       keys: np.ndarray,
                       t_fg: float,
                       t_bg: float,
                       img: Optional[np.ndarray] = None,
                       mode: str = 'crf',
                       crf: Optional[dict] = None) -> np.ndarray:
    """Confident-label pseudo-mask of one image (IRN's ``cam_to_ir_label``).

    Args:
        cams (np.ndarray): (K, H, W) max-normalised CAMs of the classes
            ``keys``; K may be 0.
        keys (np.ndarray): (K,) class indices, 0-based without background.
        t_fg (float): Background score for confident foreground (IRN 0.30,
            C2AM 0.375).
        t_bg (float): Background score for confident background (IRN 0.05,
            C2AM 0.10); ``t_bg <= t_fg``.
        img (np.ndarray, optional): (H, W, 3) uint8 RGB image; needed for
            ``mode='crf'``.
        mode (str): ``'crf'`` (IRN) or ``'threshold'`` (no CRF).
        crf (dict, optional): :func:`crf_inference_label` kwargs; defaults to
            :data:`DEFAULT_CRF`.

    Returns:
        np.ndarray: (H, W) uint8 VOC labels: 0 background, ``key + 1``
        foreground, 255 ignore.
    """
    if mode not in ('crf', 'threshold'):
        raise ValueError(f"mode must be 'crf' or 'threshold', got {mode!r}")
    if t_bg > t_fg:
        raise ValueError(f't_bg ({t_bg}) must not exceed t_fg ({t_fg})')
    keys = np.asarray(keys, dtype=np.int64)
    # Label i of the argmax maps to VOC id voc_ids[i] (0 = background); the
    # CRF works on the plane indices 0..K.
    voc_ids = np.concatenate([[0], keys + 1])
    planes = np.arange(len(keys))
    fg = background_argmax(cams, planes, t_fg)
    bg = background_argmax(cams, planes, t_bg)
    if mode == 'crf':
        if img is None:
            raise ValueError("mode='crf' needs the image")
        if img.shape[:2] != cams.shape[1:]:
            raise ValueError(f'image {img.shape[:2]} and CAMs '
                             f'{cams.shape[1:]} differ in size')
        crf = dict(DEFAULT_CRF, **(crf or {}))
        fg = crf_inference_label(img, fg, len(voc_ids), **crf)
        bg = crf_inference_label(img, bg, len(voc_ids), **crf)
    fg_ids, bg_ids = voc_ids[fg], voc_ids[bg]
    mask = fg_ids.astype(np.uint8)
    mask[fg_ids == 0] = IGNORE_INDEX
    mask[(fg_ids == 0) & (bg_ids == 0)] = 0
    return mask


def resize_cams(cams: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Bilinearly resize (K, h, w) CAMs to ``size`` = (H, W)."""
    if tuple(cams.shape[1:]) == tuple(size) or cams.shape[0] == 0:
        return cams.reshape((cams.shape[0], ) + tuple(size))
    t = torch.from_numpy(np.ascontiguousarray(cams, dtype=np.float32))
    t = F.interpolate(t[None], size=tuple(size), mode='bilinear',
                      align_corners=False)
    return t[0].numpy()


def confusion_areas(pred: np.ndarray, gt: np.ndarray,
                    num_classes: int = 21) -> Dict[str, np.ndarray]:
    """Per-class pixel areas of one pseudo-mask against its ground truth.

    Uses mmseg's ``IoUMetric.intersect_and_union`` twice:

    - ``strict``: every GT pixel (GT 255 excluded) counts; a pseudo-mask 255
      matches no class, so it is a miss of its GT class. This is the number
      comparable to IRN's final masks, which have no ignore label.
    - ``confident``: only pixels the pseudo-mask labels (not 255), i.e. the
      quality of what the segmenter is actually trained on.

    Args:
        pred (np.ndarray): (H, W) pseudo-mask, 255 = ignore.
        gt (np.ndarray): (H, W) ground truth, 255 = ignore.
        num_classes (int): Number of classes (21 for VOC).

    Returns:
        dict: ``strict`` and ``confident``, each a (4, num_classes) array of
        intersect, union, pred and label areas; ``ignored`` and ``valid``:
        the number of GT-valid pixels the pseudo-mask ignores / all of them.
    """
    from mmseg.evaluation.metrics import IoUMetric

    pred_t = torch.from_numpy(pred.astype(np.int64))
    gt_t = torch.from_numpy(gt.astype(np.int64))
    strict = IoUMetric.intersect_and_union(pred_t, gt_t, num_classes,
                                           IGNORE_INDEX)
    conf_gt = gt_t.clone()
    conf_gt[pred_t == IGNORE_INDEX] = IGNORE_INDEX
    confident = IoUMetric.intersect_and_union(pred_t, conf_gt, num_classes,
                                              IGNORE_INDEX)
    valid = gt_t != IGNORE_INDEX
    return dict(
        strict=torch.stack(strict).numpy(),
        confident=torch.stack(confident).numpy(),
        ignored=int(((pred_t == IGNORE_INDEX) & valid).sum()),
        valid=int(valid.sum()))


__all__ = [
    'DEFAULT_CRF', 'IGNORE_INDEX', 'cam_to_pseudo_mask', 'confusion_areas',
    'crf_inference_label', 'load_label_png', 'resize_cams', 'save_label_png'
]
