"""IRN's random crop (``misc/imutils.py: random_crop``) as an mmcv transform.

No transform of mmcv 2.1 / mmseg 1.2 / mmpretrain 1.2 does it: mmseg's
``RandomCrop`` never pads (a small image stays small), mmpretrain's
``RandomCrop(pad_if_needed=True)`` and mmcv's ``CenterCrop(auto_pad=True)``
put a small image at a fixed place. IRN places it at a random offset, so
the classifier and IRNet see objects everywhere in the crop.
"""
from typing import List, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmc2am.registry import TRANSFORMS

# ImageNet mean in BGR (mmcv loads BGR): the colour that normalises to 0, as
# IRN's zero padding of the normalised image.
BGR_MEAN = (103.53, 116.28, 123.675)


# mmengine's root registry: visible from the mmseg and mmpretrain scopes
# alike, as mmcv's own transforms are.
@TRANSFORMS.register_module()
class IRNRandomCrop(BaseTransform):
    """Crop a fixed-size window at a random place, padding short sides.

    Per axis independently: a side longer than the crop gives a random
    crop-size window of the image; a shorter side is kept whole and placed
    at a random offset inside the crop, the rest filled with ``pad_val``
    (image) and ``seg_pad_val`` (segmentation maps). The output is always
    ``crop_size``. The same window is applied to the image and to every
    segmentation map (``gt_seg_map`` and the keys of ``seg_fields``).

    Required keys: ``img``; optional ``gt_seg_map``, ``seg_fields``.
    Modified keys: ``img``, ``img_shape``, the segmentation maps.

    Args:
        crop_size (int | tuple[int, int]): Output (h, w), or one int for a
            square (IRN: 512).
        pad_val (float | Sequence[float]): Image fill, one value or one per
            channel. Defaults to the ImageNet mean in BGR, which normalises
            to 0 as IRN's padding does. A fractional fill on an integer
            image makes the output float32 (always, so a batch has one
            dtype whether or not its images needed padding).
        seg_pad_val (int): Segmentation fill. Defaults to 255 (ignore).
    """

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]] = 512,
                 pad_val: Union[float, Sequence[float]] = BGR_MEAN,
                 seg_pad_val: int = 255) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        crop_size = tuple(int(s) for s in crop_size)
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'IRNRandomCrop: crop_size must be a positive '
                             f'int or (h, w), got {crop_size}')
        self.crop_size = crop_size
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    @staticmethod
    def _window(size: int, crop: int) -> Tuple[slice, slice]:
        """Random (source, destination) slices along one axis."""
        if size > crop:
            start = np.random.randint(size - crop + 1)
            return slice(start, start + crop), slice(0, crop)
        start = np.random.randint(crop - size + 1)
        return slice(0, size), slice(start, start + size)

    @staticmethod
    def _paste(arr: np.ndarray, shape: tuple, src: tuple, dst: tuple,
               fill: np.ndarray) -> np.ndarray:
        """``arr[src]`` into a ``shape`` canvas of ``fill`` at ``dst``."""
        dtype = arr.dtype
        if np.issubdtype(dtype, np.integer) and \
                not np.array_equal(fill, np.round(fill)):
            dtype = np.dtype(np.float32)
        out = np.empty(shape + arr.shape[2:], dtype)
        out[...] = fill
        out[dst] = arr[src]
        return out

    def _seg_keys(self, results: dict) -> List[str]:
        keys = list(results.get('seg_fields', []))
        if 'gt_seg_map' in results and 'gt_seg_map' not in keys:
            keys.append('gt_seg_map')
        return keys

    def transform(self, results: dict) -> dict:
        """Crop ``img`` and the segmentation maps with one random window.

        Args:
            results (dict): ``img`` (H, W[, C]) and optional maps (H, W).

        Returns:
            dict: ``img`` (h, w[, C]) with ``(h, w) = crop_size``, the maps
            (h, w), ``img_shape = (h, w)``.
        """
        img = results['img']
        h, w = img.shape[:2]
        fill = np.asarray(self.pad_val, dtype=np.float64)
        if fill.ndim and img.ndim == 3 and fill.size != img.shape[2]:
            raise ValueError(
                f'IRNRandomCrop: {fill.size} pad values for an image of '
                f'{img.shape[2]} channels ({results.get("img_path", "")})')
        sy, dy = self._window(h, self.crop_size[0])
        sx, dx = self._window(w, self.crop_size[1])
        results['img'] = self._paste(img, self.crop_size, (sy, sx), (dy, dx),
                                     fill)
        for key in self._seg_keys(results):
            seg = results[key]
            if seg.shape[:2] != (h, w):
                raise ValueError(
                    f'IRNRandomCrop: {key} of shape {seg.shape[:2]} does '
                    f'not match the image ({h}, {w}) '
                    f'({results.get("seg_map_path", "")})')
            results[key] = self._paste(seg, self.crop_size, (sy, sx),
                                       (dy, dx),
                                       np.asarray(self.seg_pad_val))
        results['img_shape'] = self.crop_size
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})')
