"""Labels from class scores and a constant background score, IRN's argmax.

Every stage that turns scores into labels does the same thing (IRN's
``eval_cam.py``, ``cam_to_ir_label.py`` and ``make_sem_seg_labels.py``): a
constant background plane ``t`` is put in front of the (K, H, W) scores of
the image's classes, the argmax over the K + 1 planes is taken and mapped to
VOC ids (0 = background, class ``k`` -> ``k + 1``). The argmax keeps the
first plane on ties, so a pixel is background iff its peak score is ``<= t``
and otherwise takes the first class reaching the peak. The seeds, the
confident labels, the random walk's masks, the seed metric's sweep and the
pictures all use :func:`peak_and_label` / :func:`background_argmax`.
"""
from typing import Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


def _numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def peak_and_label(scores: ArrayLike,
                   label_ids: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Per pixel, the peak score and the label id of its first argmax.

    Args:
        scores (np.ndarray | Tensor): (K, H, W) scores, K >= 1.
        label_ids (Sequence[int]): (K,) label id of each plane.

    Returns:
        tuple[np.ndarray, np.ndarray]: (H, W) peak (dtype of ``scores``)
        and (H, W) int64 label id of the first plane reaching it.
    """
    scores = _numpy(scores)
    label_ids = np.asarray(label_ids, dtype=np.int64).reshape(-1)
    if scores.ndim != 3 or scores.shape[0] != len(label_ids) or \
            not len(label_ids):
        raise ValueError(f'scores of shape {scores.shape} for '
                         f'{len(label_ids)} label ids')
    # A loop over the few planes beats argmax(axis=0) over a stacked copy;
    # '>' keeps the earlier plane on ties, as np.argmax does.
    peak = scores[0].copy()
    label = np.full(peak.shape, label_ids[0], dtype=np.int64)
    for plane, lab in zip(scores[1:], label_ids[1:]):
        label[plane > peak] = lab
        np.maximum(peak, plane, out=peak)
    return peak, label


def background_argmax(scores: ArrayLike, keys: Sequence[int],
                      bg_score: float) -> np.ndarray:
    """VOC labels of ``argmax([bg_score, scores])`` (ties to background).

    Args:
        scores (np.ndarray | Tensor): (K, H, W) class scores (CAMs, walked
            scores); K may be 0.
        keys (Sequence[int]): (K,) 0-based class index of each plane.
        bg_score (float): The background plane, compared in the dtype of
            ``scores`` (as the reference pads its float32 CAMs with it).

    Returns:
        np.ndarray: (H, W) int64, 0 background, ``keys[k] + 1`` for class k.
    """
    scores = _numpy(scores)
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    if scores.ndim != 3 or scores.shape[0] != len(keys):
        raise ValueError(f'scores of shape {scores.shape} for {len(keys)} '
                         'class keys')
    if not len(keys):
        return np.zeros(scores.shape[1:], dtype=np.int64)
    peak, label = peak_and_label(scores, keys + 1)
    label[peak <= np.asarray(bg_score, dtype=peak.dtype)] = 0
    return label


__all__ = ['background_argmax', 'peak_and_label']
