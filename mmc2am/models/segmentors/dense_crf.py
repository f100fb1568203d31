"""Dense-CRF post-processing of a segmenter's class probabilities.

deeplab-pytorch's ``DenseCRF`` (``libs/utils/crf.py`` lines 14-41; C2AM's
``segmentation/libs/utils/crf.py`` 7-34 is the same): the unaries are
``-log(p)`` of the softmax (pydensecrf's ``unary_from_softmax``, which clips
``p`` at 1e-5), a Gaussian smoothness kernel (``pos_xy_std``, weight
``pos_w``) and an appearance kernel (``bi_xy_std``, ``bi_rgb_std``, weight
``bi_w``), ``iter_max`` mean-field iterations; the label is the argmax of
the result. The values are C2AM's ``segmentation/configs/voc12.yaml``
lines 52-58 (= deeplab-pytorch's ``configs/voc12.yaml`` 52-58).

The project's other dense CRF, :func:`mmc2am.cam.pseudo_mask.
crf_inference_label` (IRN's, for pseudo-masks), runs the same pydensecrf
model on unaries made from a label map (``unary_from_labels``); given the
probabilities those unaries stand for, the two agree (tests/test_deeplabv2.py).
"""
from typing import Optional

import numpy as np

# deeplab-pytorch / C2AM: configs/voc12.yaml lines 52-58 (CRF: ITER_MAX 10,
# POS_W 3, POS_XY_STD 1, BI_W 4, BI_XY_STD 67, BI_RGB_STD 3)
DEEPLAB_CRF = dict(
    iter_max=10, pos_w=3, pos_xy_std=1, bi_w=4, bi_xy_std=67, bi_rgb_std=3)


def dense_crf(img: np.ndarray,
              probs: np.ndarray,
              iter_max: int = 10,
              pos_w: float = 3,
              pos_xy_std: float = 1,
              bi_w: float = 4,
              bi_xy_std: float = 67,
              bi_rgb_std: float = 3) -> np.ndarray:
    """Refine class probabilities with a fully connected CRF (pydensecrf).

    Args:
        img (np.ndarray): (H, W, 3) uint8 image. The appearance kernel is
            isotropic in colour, so RGB and BGR give the same result.
        probs (np.ndarray): (K, H, W) class probabilities (a softmax).
        iter_max (int): Mean-field iterations (0 returns ``probs``
            renormalised after clipping at 1e-5).
        pos_w (float): Weight (Potts compatibility) of the Gaussian kernel.
        pos_xy_std (float): Its spatial standard deviation, in pixels.
        bi_w (float): Weight of the bilateral (appearance) kernel.
        bi_xy_std (float): Its spatial standard deviation, in pixels.
        bi_rgb_std (float): Its colour standard deviation.

    Returns:
        np.ndarray: (K, H, W) float32 refined probabilities.
    """
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3:
        raise ValueError(f'probs must be (K, H, W), got {probs.shape}')
    k, h, w = probs.shape
    if img.shape[:2] != (h, w):
        raise ValueError(f'image {img.shape[:2]} and probabilities {(h, w)} '
                         'differ in size')
    crf = dcrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
    crf.addPairwiseGaussian(sxy=pos_xy_std, compat=pos_w)
    crf.addPairwiseBilateral(
        sxy=bi_xy_std,
        srgb=bi_rgb_std,
        rgbim=np.ascontiguousarray(img, dtype=np.uint8),
        compat=bi_w)
    q = crf.inference(int(iter_max))
    return np.asarray(q, dtype=np.float32).reshape(k, h, w)


def crf_cfg(crf: Optional[dict]) -> Optional[dict]:
    """:data:`DEEPLAB_CRF` updated with ``crf`` (None: no CRF); unknown keys
    are refused."""
    if crf is None:
        return None
    unknown = set(crf) - set(DEEPLAB_CRF)
    if unknown:
        raise ValueError(f'unknown CRF settings {sorted(unknown)}; known: '
                         f'{sorted(DEEPLAB_CRF)}')
    return dict(DEEPLAB_CRF, **crf)
