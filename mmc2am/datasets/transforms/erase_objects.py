"""Erase an image's objects: context-only negatives (issue 17, form "erase").

On context-confounded data (``tools/generate_voc.py``: with probability
``context_prob`` an image's whole background is its first object's class
context) the context alone predicts the class, so a plain CAM classifier fires
on it. :class:`EraseObjects` intervenes on the data: with probability
``prob`` a training image loses its objects (the pixels its pseudo-mask calls
an object or ignore, grown by ``dilate`` pixels, refilled from the image's own
background) and its image-level label becomes empty. The classifier then sees
a class's context without the class and has to stop firing on it.
"""
import os.path as osp
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmc2am.registry import TRANSFORMS
from mmc2am.utils.mask_files import load_label_png

__all__ = ['EraseObjects']

FILLS = ('copy', 'inpaint')


def disk(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) uint8 kernel of the offsets within Euclidean ``radius``
    (pixel centres), so that a dilation by it grows a region by every pixel
    within ``radius`` of it."""
    r = int(radius)
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (y * y + x * x <= r * r).astype(np.uint8)


def grow(region: np.ndarray, radius: int) -> np.ndarray:
    """``region`` (H, W) bool plus every pixel within ``radius`` px of it."""
    if radius <= 0:
        return region.copy()
    return cv2.dilate(region.astype(np.uint8), disk(radius)).astype(bool)


def _fallback_fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill ``hole`` by Telea inpainting (uint8 images with 1 or 3
    channels) or with the mean of the other pixels."""
    if img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] in (1, 3)):
        out = cv2.inpaint(img, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        return out.reshape(img.shape)
    out = img.copy()
    out[hole] = img[~hole].mean(axis=0).astype(img.dtype)
    return out


def copy_fill(img: np.ndarray, hole: np.ndarray, candidates: int = 64,
              rounds: int = 8, band: int = 3) -> np.ndarray:
    """Fill ``hole`` with shifted copies of the image's other pixels.

    Per round: ``candidates`` random shifts ``(dy, dx)`` (numpy's global
    RNG); for each, the share of the unfilled pixels ``p`` whose source
    ``p + (dy, dx)`` lies inside the image on a known (not hole, or already
    filled) pixel, and the mean squared difference between the known pixels
    within ``band`` px of the unfilled ones and their shifted copies (how
    well the source's surroundings continue the hole's: for a periodic
    texture, small at whole periods). Among the shifts that cover at least
    half as many pixels as the best one, the best-matching one copies its
    sources into the hole. Whatever is left after ``rounds`` rounds is
    filled by :func:`_fallback_fill`.

    Args:
        img (np.ndarray): (H, W) or (H, W, C) image.
        hole (np.ndarray): (H, W) bool, the pixels to replace; at least one
            pixel must be outside it.
        candidates (int): Shifts tried per round.
        rounds (int): Rounds at most.
        band (int): Width of the matched band around the hole, px.

    Returns:
        np.ndarray: The image (same shape and dtype) with ``hole`` filled.
    """
    h, w = hole.shape
    out = img.copy()
    known = ~hole
    signal = out.astype(np.float32).reshape(h, w, -1)
    for _ in range(rounds):
        ty, tx = np.nonzero(~known)
        if ty.size == 0:
            return out
        near = grow(~known, band) & known
        ry, rx = np.nonzero(near)
        dys = np.random.randint(-(h - 1), h, size=candidates)
        dxs = np.random.randint(-(w - 1), w, size=candidates)
        scored = []
        for dy, dx in zip(dys.tolist(), dxs.tolist()):
            if dy == 0 and dx == 0:
                continue
            sy, sx = ty + dy, tx + dx
            ok = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
            ok[ok] = known[sy[ok], sx[ok]]
            cover = int(ok.sum())
            if cover == 0:
                continue
            qy, qx = ry + dy, rx + dx
            rok = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
            rok[rok] = known[qy[rok], qx[rok]]
            if rok.any():
                diff = signal[ry[rok], rx[rok]] - signal[qy[rok], qx[rok]]
                cost = float((diff * diff).mean())
            else:
                cost = float('inf')
            scored.append((cost, -cover, dy, dx, ok))
        if not scored:
            break
        most = max(-s[1] for s in scored)
        cost, _, dy, dx, ok = min(
            (s for s in scored if -s[1] * 2 >= most), key=lambda s: s[:2])
        py, px = ty[ok], tx[ok]
        out[py, px] = out[py + dy, px + dx]
        signal[py, px] = signal[py + dy, px + dx]
        known[py, px] = True
    if not known.all():
        out = _fallback_fill(out, ~known)
    return out


@TRANSFORMS.register_module()
class EraseObjects(BaseTransform):
    """With probability ``prob``, erase the objects of an image and its label.

    The image's pseudo-mask ``<mask_dir>/<img_id>.png`` (VOC palette or grey
    PNG: 0 background, 1..20 classes, 255 ignore; e.g. the CRF pseudo-masks
    of ``crf_gen_cam.py``) gives the object pixels: every pixel that
    is not background (a class or ignore). They, and every pixel within
    ``dilate`` px (Euclidean) of them, form the hole; the hole is refilled
    from the rest of the image (``fill``), so only the image's
    background / context remains, and the image-level label becomes empty
    (``gt_label = []``; ``gt_score``, if present, all zeros). The
    multi-label loss then has every class negative for that image (the
    data preprocessor's multi-hot target is a zero row).

    A drawn image is kept unchanged, label included, when its mask has no
    pixel of one of its labelled classes (that object would stay visible
    under an empty label: a wrong negative), when the mask has no object or
    ignore pixel at all, or when the hole leaves less than ``min_context``
    of the pixels (too little context to make a context-only image of).
    ``results['objects_erased']`` says whether the image was erased.

    It must run right after ``LoadImageFromFile``: the mask is aligned with
    the image as stored, before any resize, flip or crop. A
    ``gt_seg_map`` already loaded is set to background (0) in the hole.

    Randomness: numpy's global RNG (seeded by mmengine's ``randomness``),
    one draw per image for the decision, and the shifts of ``fill='copy'``.

    Required keys: ``img`` (H, W[, C]), ``img_path`` (or ``img_id``),
    ``gt_label``.
    Modified keys: ``img`` (same shape and dtype), ``gt_label``, optional
    ``gt_score`` and ``gt_seg_map``.
    Added keys: ``objects_erased`` (bool).

    Args:
        mask_dir (str): Folder of the pseudo-masks ``<img_id>.png``, relative
            to the current folder (as the configs' other work dirs).
        prob (float): Probability of erasing an image, in [0, 1]. Defaults
            to 0.4.
        dilate (int): Growth of the hole around the mask's object and ignore
            pixels, px, >= 0 (pseudo-mask borders miss object edges).
            Defaults to 3.
        fill (str): How the hole is refilled. ``'copy'`` (default): shifted
            copies of the image's own background, chosen to continue the
            texture around the hole (:func:`copy_fill`); ``'inpaint'``:
            OpenCV's Telea inpainting (``cv2.inpaint``, radius 3).
        min_context (float): The least share of pixels outside the hole for
            an image to be erased, in [0, 1). Defaults to 0.1.
        mask_suffix (str): Defaults to '.png'.

    Raises:
        FileNotFoundError: The image's mask file is missing (named).
        ValueError: The mask is unreadable or its size differs from the
            image's (the file is named); bad arguments.
    """

    # Why 'copy' by default: the generated contexts (and real ones: water,
    # grass, road) are textures (stripes, checks, dots, noise). cv2.inpaint
    # diffuses the border colours into a smooth patch that keeps the
    # object's dilated silhouette: the erased images would then all carry a
    # smooth, object-shaped blob, a cue of "no class" (and of the erased
    # class's shape) that the classifier could learn instead of the
    # context, while still firing on the context of unerased images. Copied
    # background keeps the texture statistics inside the hole, so an erased
    # image looks like a context-only image; the shift is chosen so the
    # copy continues the texture around the hole (periodic textures align).

    def __init__(self,
                 mask_dir: str,
                 prob: float = 0.4,
                 dilate: int = 3,
                 fill: str = 'copy',
                 min_context: float = 0.1,
                 mask_suffix: str = '.png') -> None:
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f'EraseObjects: prob must be in [0, 1], got '
                             f'{prob}')
        if int(dilate) != dilate or dilate < 0:
            raise ValueError(f'EraseObjects: dilate must be an int >= 0, got '
                             f'{dilate}')
        if fill not in FILLS:
            raise ValueError(f'EraseObjects: fill must be one of {FILLS}, '
                             f'got {fill!r}')
        if not 0.0 <= float(min_context) < 1.0:
            raise ValueError(f'EraseObjects: min_context must be in [0, 1), '
                             f'got {min_context}')
        self.mask_dir = mask_dir
        self.prob = float(prob)
        self.dilate = int(dilate)
        self.fill = fill
        self.min_context = float(min_context)
        self.mask_suffix = mask_suffix

    def mask_path(self, results: dict) -> str:
        """``<mask_dir>/<img_id><mask_suffix>`` (the image file's stem when
        there is no ``img_id``)."""
        img_id = results.get('img_id')
        if img_id is None:
            img_id = osp.splitext(osp.basename(results['img_path']))[0]
        return osp.join(self.mask_dir, f'{img_id}{self.mask_suffix}')

    def read_mask(self, results: dict) -> np.ndarray:
        """The image's (H, W) uint8 pseudo-mask, checked against the
        image's size."""
        path = self.mask_path(results)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'EraseObjects: pseudo-mask not found: {path} (image '
                f'{results.get("img_path", "?")}, mask_dir '
                f'{self.mask_dir!r})')
        mask = load_label_png(path)  # ValueError naming the file
        shape = results['img'].shape[:2]
        if mask.shape != shape:
            raise ValueError(
                f'EraseObjects: pseudo-mask {path} is {mask.shape[0]}x'
                f'{mask.shape[1]}, the image {results.get("img_path", "?")} '
                f'is {shape[0]}x{shape[1]} (EraseObjects must run right '
                'after LoadImageFromFile)')
        return mask

    def transform(self, results: dict) -> dict:
        """Erase the objects of ``results['img']`` with probability ``prob``.

        Args:
            results (dict): ``img`` (H, W[, C]) as loaded, ``img_path`` /
                ``img_id``, ``gt_label``.

        Returns:
            dict: ``img`` (H, W[, C]), ``gt_label`` (``[]`` when erased),
            ``objects_erased``.
        """
        results['objects_erased'] = False
        if self.prob <= 0.0 or np.random.rand() >= self.prob:
            return results
        mask = self.read_mask(results)
        label = np.asarray(results['gt_label'], dtype=np.int64).reshape(-1)
        if not np.isin(label + 1, mask).all():
            # a labelled class the mask did not find: its object would stay
            # in the image under an empty label (a wrong negative)
            return results
        hole = grow(mask != 0, self.dilate)
        if not hole.any() or (~hole).mean() < self.min_context or \
                not (~hole).any():
            return results
        if self.fill == 'copy':
            results['img'] = copy_fill(results['img'], hole)
        else:
            results['img'] = _fallback_fill(results['img'], hole)
        results['gt_label'] = []
        if 'gt_score' in results:
            results['gt_score'] = np.zeros_like(np.asarray(
                results['gt_score']))
        seg: Optional[np.ndarray] = results.get('gt_seg_map')
        if seg is not None and seg.shape[:2] == hole.shape:
            seg = seg.copy()
            seg[hole] = 0
            results['gt_seg_map'] = seg
        results['objects_erased'] = True
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_dir={self.mask_dir!r}, '
                f'prob={self.prob}, dilate={self.dilate}, '
                f'fill={self.fill!r}, min_context={self.min_context})')
