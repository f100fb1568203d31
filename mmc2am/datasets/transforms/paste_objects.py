"""Paste another class's object onto an image: object-context recombination.

CDA (Su et al., ICCV 2021, ``suyukun666/CDA``: ``step/make_aug_fg.py``,
``misc/imutils.py`` ``data_aug_rotation_blur``) breaks the co-occurrence of
a class and its context by pasting objects cut out with pseudo-masks onto
images of other classes (union label). On context-confounded data
(``tools/generate_voc.py``) a class's object then appears on the other
classes' contexts, so the object, not the context, has to carry the class.

:class:`PasteObjects` is the intervention in the opposite direction of
:class:`~mmc2am.datasets.transforms.EraseObjects` (context without its
object); both in one pipeline (erase, then paste) give an image whose only
object is a pasted one on a context it does not go with.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import list_from_file

from mmc2am.registry import TRANSFORMS
from mmc2am.utils.mask_files import load_label_png

__all__ = ['PasteObjects', 'feather_alpha', 'build_object_bank']

# (crop (h, w[, C]) of the source image, object mask (h, w) bool, source id)
BankEntry = Tuple[np.ndarray, np.ndarray, str]


def feather_alpha(mask: np.ndarray, feather: float) -> np.ndarray:
    """Soft alpha of a binary object mask, ramping up inside the object.

    ``alpha = min(1, d / feather)`` on the object, 0 elsewhere, where ``d``
    is the Euclidean distance (``cv2.distanceTransform``, exact L2) from an
    object pixel's centre to the nearest non-object pixel's centre, counting
    everything outside the array as non-object: so 1 for an object pixel
    next to the edge, ``sqrt(2)`` for one touching it diagonally. With
    ``feather <= 1`` (or 0) the alpha is the hard mask.

    Args:
        mask (np.ndarray): (h, w) bool object mask.
        feather (float): Width of the ramp, px.

    Returns:
        np.ndarray: (h, w) float32 alpha in [0, 1]: exactly 0 off the
        object, exactly 1 at ``feather`` px or more inside it.
    """
    mask = np.asarray(mask, dtype=bool)
    if feather <= 1:
        return mask.astype(np.float32)
    # one ring of zeros: the array's border is the object's edge too (the
    # crop is the object's tight box)
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.minimum(dist[1:-1, 1:-1] / np.float32(feather),
                      np.float32(1)).astype(np.float32)


def build_object_bank(mask_dir: str,
                      img_dir: str,
                      ids: Optional[Sequence[str]] = None,
                      min_area: float = 0.1,
                      max_area: float = 0.7,
                      mask_suffix: str = '.png',
                      img_suffix: str = '.jpg',
                      ignore_index: int = 255) -> Dict[int, List[BankEntry]]:
    """The objects of the single-class pseudo-masks, by class.

    An image contributes its object when its mask ``<mask_dir>/<id>.png``
    (0 background, ``c + 1`` class index ``c``, ``ignore_index`` ignore)
    holds exactly one class (ignore pixels are no class) and that class
    covers ``min_area`` to ``max_area`` of the image (bounds included). The
    object is its class's pixels (ignore pixels are not part of it: their
    label is unknown), cut out with its tight box from
    ``<img_dir>/<id><img_suffix>`` (read as ``LoadImageFromFile`` does:
    BGR uint8).

    Args:
        mask_dir (str): Folder of the pseudo-masks.
        img_dir (str): Folder of the images.
        ids (Sequence[str], optional): The image ids; None: every
            ``*<mask_suffix>`` file of ``mask_dir``.
        min_area (float): Least object area, share of the image's pixels.
        max_area (float): Largest object area, share of the image's pixels.
        mask_suffix (str): Defaults to '.png'.
        img_suffix (str): Defaults to '.jpg'.
        ignore_index (int): Ignore label of the masks. Defaults to 255.

    Returns:
        dict[int, list[tuple]]: 0-based class index -> list of
        ``(crop, mask, img_id)``: ``crop`` (h, w, 3) uint8, ``mask``
        (h, w) bool (True on the object). Only classes with an object
        are keys.

    Raises:
        FileNotFoundError: ``mask_dir`` or a listed mask or an image is
            missing (named).
        ValueError: A mask is unreadable or its size differs from its
            image's (both named); no object qualifies (the folder and the
            criteria are named).
    """
    if not osp.isdir(mask_dir):
        raise FileNotFoundError(
            f'PasteObjects: pseudo-mask folder not found: {mask_dir}')
    if ids is None:
        ids = sorted(f[:-len(mask_suffix)] for f in os.listdir(mask_dir)
                     if f.endswith(mask_suffix))
    bank: Dict[int, List[BankEntry]] = {}
    for img_id in ids:
        mask_path = osp.join(mask_dir, img_id + mask_suffix)
        if not osp.isfile(mask_path):
            raise FileNotFoundError(
                f'PasteObjects: pseudo-mask not found: {mask_path}')
        mask = load_label_png(mask_path)  # ValueError naming the file
        classes = np.unique(mask)
        classes = classes[(classes != 0) & (classes != ignore_index)]
        if len(classes) != 1:
            continue
        obj = mask == classes[0]
        area = obj.mean()
        if not min_area <= area <= max_area:
            continue
        img_path = osp.join(img_dir, img_id + img_suffix)
        if not osp.isfile(img_path):
            raise FileNotFoundError(
                f'PasteObjects: image not found: {img_path} (for the '
                f'pseudo-mask {mask_path})')
        img = mmcv.imread(img_path)  # BGR uint8, as LoadImageFromFile
        if img.shape[:2] != mask.shape:
            raise ValueError(
                f'PasteObjects: pseudo-mask {mask_path} is {mask.shape[0]}x'
                f'{mask.shape[1]}, its image {img_path} is {img.shape[0]}x'
                f'{img.shape[1]}')
        ys, xs = np.nonzero(obj)
        box = np.s_[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        bank.setdefault(int(classes[0]) - 1, []).append(
            (img[box].copy(), obj[box].copy(), img_id))
    if not bank:
        raise ValueError(
            f'PasteObjects: no object for the bank in {mask_dir} '
            f'({len(ids)} masks): none has exactly one class covering '
            f'{min_area:.0%}-{max_area:.0%} of its image')
    return bank


@TRANSFORMS.register_module()
class PasteObjects(BaseTransform):
    """With probability ``prob``, paste an object of a class the image lacks.

    The object bank (:func:`build_object_bank`, built on the first draw, so
    that building a pipeline reads no file) holds, per class, the objects of
    the single-class pseudo-masks of ``mask_dir`` covering ``min_area`` to
    ``max_area`` of their image. A drawn image gets:

    - a class ``c`` drawn uniformly among the bank's classes not in its
      ``gt_label`` (none left: the image is kept unchanged), and one of
      ``c``'s objects, uniformly;
    - the object rescaled (aspect kept) so that its pixels cover a share
      ``a ~ U(scale_range)`` of the image, shrunk further if its box would
      not fit; placed at a uniform position with its box fully inside the
      image;
    - blended as ``alpha * object + (1 - alpha) * image`` with
      :func:`feather_alpha` of the rescaled object mask (``feather`` px,
      in the target image's pixels);
    - the label union: ``c`` added to ``gt_label`` (sorted), ``gt_score``
      (if present) set to 1 at ``c``, a loaded ``gt_seg_map`` of the same
      size set to ``c + 1`` on the pasted object's pixels (the keys
      :class:`EraseObjects` updates).

    ``results['pasted']`` records it: None when nothing was pasted, else
    ``dict(cls=c, box=(y0, x0, y1, x1), source=img_id, area=a)`` (``area``
    the object's actual share of the image after the rescale).

    Why a ramp inside the object rather than a Gaussian blur of the mask
    (CDA's ``cv2.GaussianBlur(mask, (3, 3), 0)``): a blur spreads alpha
    outside the object, onto the crop's non-object pixels, i.e. the source
    image's background, which on confounded data is the pasted class's own
    context: a halo of the confounder would be pasted with every object.
    The inward ramp takes no pixel from outside the object mask; object
    pixels within ``feather`` px of its edge (where pseudo-masks are least
    sure) are blended with the target, so the paste has no hard seam.

    Randomness: numpy's global RNG (seeded by mmengine's ``randomness``):
    the decision, then class, object, area, row and column.

    Required keys: ``img`` (H, W[, C]), ``gt_label``.
    Modified keys: ``img`` (same shape and dtype), ``gt_label``, optional
    ``gt_score`` and ``gt_seg_map``.
    Added keys: ``pasted`` (dict or None).

    Args:
        mask_dir (str): Folder of the pseudo-masks ``<img_id>.png``.
        img_dir (str): Folder of their images ``<img_id><img_suffix>``.
        ann_file (str, optional): Id list (one id a line) of the images
            that may give objects; None: every mask file of ``mask_dir``.
        prob (float): Probability of pasting into an image, in [0, 1]: the
            expected share of pasted images in a batch. Defaults to 0.5
            (CDA pastes half of each batch).
        min_area (float): Least object area in the bank, share of its
            image. Defaults to 0.1.
        max_area (float): Largest object area in the bank. Defaults to 0.7.
        scale_range (tuple[float, float]): Range of the pasted object's
            area, share of the target image, ``0 < lo <= hi <= 1``.
            Defaults to ``(min_area, max_area)``.
        feather (float): Width of the alpha ramp inside the object, px
            (<= 1: a hard mask). Defaults to 2.
        mask_suffix (str): Defaults to '.png'.
        img_suffix (str): Defaults to '.jpg'.

    Raises:
        FileNotFoundError: ``mask_dir``, a mask or an image is missing.
        ValueError: A mask differs in size from its image; no object for
            the bank; bad arguments.
    """

    def __init__(self,
                 mask_dir: str,
                 img_dir: str,
                 ann_file: Optional[str] = None,
                 prob: float = 0.5,
                 min_area: float = 0.1,
                 max_area: float = 0.7,
                 scale_range: Optional[Sequence[float]] = None,
                 feather: float = 2.0,
                 mask_suffix: str = '.png',
                 img_suffix: str = '.jpg') -> None:
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f'PasteObjects: prob must be in [0, 1], got '
                             f'{prob}')
        if not 0.0 <= float(min_area) <= float(max_area) <= 1.0:
            raise ValueError(f'PasteObjects: need 0 <= min_area <= max_area '
                             f'<= 1, got {min_area}, {max_area}')
        if scale_range is None:
            scale_range = (max(float(min_area), 1e-6), float(max_area))
        scale_range = tuple(float(s) for s in scale_range)
        if len(scale_range) != 2 or not \
                0.0 < scale_range[0] <= scale_range[1] <= 1.0:
            raise ValueError(f'PasteObjects: scale_range must be (lo, hi) '
                             f'with 0 < lo <= hi <= 1, got {scale_range}')
        if float(feather) < 0:
            raise ValueError(f'PasteObjects: feather must be >= 0, got '
                             f'{feather}')
        self.mask_dir = mask_dir
        self.img_dir = img_dir
        self.ann_file = ann_file
        self.prob = float(prob)
        self.min_area = float(min_area)
        self.max_area = float(max_area)
        self.scale_range = scale_range
        self.feather = float(feather)
        self.mask_suffix = mask_suffix
        self.img_suffix = img_suffix
        self._bank: Optional[Dict[int, List[BankEntry]]] = None

    @property
    def bank(self) -> Dict[int, List[BankEntry]]:
        """Class index -> list of ``(crop, mask, img_id)``, built once."""
        if self._bank is None:
            ids = None
            if self.ann_file is not None:
                ids = [i.strip() for i in list_from_file(self.ann_file)
                       if i.strip()]
            self._bank = build_object_bank(
                self.mask_dir, self.img_dir, ids, self.min_area,
                self.max_area, self.mask_suffix, self.img_suffix)
        return self._bank

    def _rescale(self, crop: np.ndarray, mask: np.ndarray, shape: tuple,
                 area: float) -> Tuple[np.ndarray, np.ndarray]:
        """The object resized (aspect kept) to cover ``area`` of an image
        of ``shape``, capped to fit in it."""
        H, W = shape
        h, w = mask.shape
        scale = np.sqrt(area * H * W / mask.sum())
        scale = min(scale, H / h, W / w)
        nh = int(min(H, max(1, round(h * scale))))
        nw = int(min(W, max(1, round(w * scale))))
        if (nh, nw) == (h, w):
            return crop, mask
        crop = mmcv.imresize(crop, (nw, nh), interpolation='bilinear')
        mask = mmcv.imresize(mask.astype(np.uint8), (nw, nh),
                             interpolation='nearest').astype(bool)
        if not mask.any():  # a sliver shrunk away: keep its centre pixel
            mask[nh // 2, nw // 2] = True
        return crop, mask

    def transform(self, results: dict) -> dict:
        """Paste an object into ``results['img']`` with probability ``prob``.

        Args:
            results (dict): ``img`` (H, W[, C]), ``gt_label``.

        Returns:
            dict: ``img``, ``gt_label`` (the union), ``pasted``.
        """
        results['pasted'] = None
        if self.prob <= 0.0 or np.random.rand() >= self.prob:
            return results
        label = [int(c) for c in np.asarray(results['gt_label']).ravel()]
        candidates = sorted(c for c in self.bank if c not in label)
        if not candidates:
            return results
        cls = candidates[np.random.randint(len(candidates))]
        objects = self.bank[cls]
        crop, mask, source = objects[np.random.randint(len(objects))]
        img = results['img']
        H, W = img.shape[:2]
        area = np.random.uniform(*self.scale_range)
        crop, mask = self._rescale(crop, mask, (H, W), area)
        h, w = mask.shape
        y0 = np.random.randint(H - h + 1)
        x0 = np.random.randint(W - w + 1)

        alpha = feather_alpha(mask, self.feather)
        if img.ndim == 3:
            alpha = alpha[..., None]
            if crop.ndim == 2:
                crop = crop[..., None]
            crop = np.broadcast_to(crop, (h, w, img.shape[2]))
        elif crop.ndim == 3:  # a grey target: the object's grey level
            crop = mmcv.bgr2gray(crop)
        out = img.copy()
        box = np.s_[y0:y0 + h, x0:x0 + w]
        blend = alpha * crop.astype(np.float32) + \
            (1 - alpha) * img[box].astype(np.float32)
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            blend = np.clip(np.rint(blend), info.min, info.max)
        out[box] = blend.astype(img.dtype)
        results['img'] = out

        results['gt_label'] = sorted(label + [cls])
        if results.get('gt_score') is not None:
            score = np.array(results['gt_score'], copy=True)
            score[cls] = 1
            results['gt_score'] = score
        seg = results.get('gt_seg_map')
        if seg is not None and seg.shape[:2] == (H, W):
            seg = seg.copy()
            seg[box][mask] = cls + 1
            results['gt_seg_map'] = seg
        results['pasted'] = dict(
            cls=cls, box=(int(y0), int(x0), int(y0 + h), int(x0 + w)),
            source=source, area=float(mask.sum() / (H * W)))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_dir={self.mask_dir!r}, '
                f'img_dir={self.img_dir!r}, prob={self.prob}, '
                f'min_area={self.min_area}, max_area={self.max_area}, '
                f'scale_range={self.scale_range}, feather={self.feather})')
