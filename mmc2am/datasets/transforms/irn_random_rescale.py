"""IRN's random rescale (``misc/imutils.py: random_scale``) as a transform."""
from typing import Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmc2am.registry import TRANSFORMS

__all__ = ['IRNRandomRescale']


@TRANSFORMS.register_module()
class IRNRandomRescale(BaseTransform):
    """Rescale the image and label map by one random factor.

    IRN's ``random_scale``: factor uniform in ``scale_range``, new size
    ``round(H * s) x round(W * s)``, PIL bicubic for the image, nearest for
    the labels.

    Required keys: ``img``, ``gt_seg_map`` (optional).
    Modified keys: ``img``, ``gt_seg_map``, ``img_shape``, ``scale_factor``.

    Args:
        scale_range (tuple[float, float]): Range of the factor.
        interpolation (str): Image interpolation (mmcv name).
        backend (str): mmcv resize backend; ``'pillow'`` as the reference.
    """

    def __init__(self,
                 scale_range: Tuple[float, float] = (0.5, 1.5),
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow'):
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise ValueError(f'invalid scale_range {scale_range}')
        self.scale_range = (lo, hi)
        self.interpolation = interpolation
        self.backend = backend

    def transform(self, results: dict) -> dict:
        scale = np.random.uniform(*self.scale_range)
        h, w = results['img'].shape[:2]
        size = (max(int(np.round(w * scale)), 1),
                max(int(np.round(h * scale)), 1))  # (w, h) for mmcv
        results['img'] = mmcv.imresize(
            results['img'], size, interpolation=self.interpolation,
            backend=self.backend)
        for key in results.get('seg_fields', []):
            results[key] = mmcv.imresize(
                results[key], size, interpolation='nearest',
                backend=self.backend)
        results['img_shape'] = results['img'].shape[:2]
        results['scale_factor'] = (size[0] / w, size[1] / h)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale_range={self.scale_range}, '
                f'interpolation={self.interpolation})')
