"""SEAM's colour jitter: torchvision's ``ColorJitter`` on the RGB image.

YudeWang/SEAM ``train_SEAM.py`` line 64 jitters the PIL image with
``transforms.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3,
hue=0.1)`` before normalising. mmpretrain's ``ColorJitter`` (mmcv's
``adjust_hue``) fails on numpy 2 for a negative hue factor
(``np.uint8(negative)``), and mmpretrain's ``torchvision/ColorJitter`` is a
``functools.partial``, not a transform class; this transform runs
torchvision's on the image as SEAM does.
"""
import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image
from torchvision.transforms import ColorJitter

from mmc2am.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SEAMColorJitter(BaseTransform):
    """Random brightness, contrast, saturation and hue (torchvision's).

    Required keys: ``img`` (H, W, 3) uint8 BGR. Modified keys: ``img``.

    Args:
        brightness (float): Factor drawn from ``[1 - b, 1 + b]``.
            Defaults to 0.3.
        contrast (float): Factor drawn from ``[1 - c, 1 + c]``.
            Defaults to 0.3.
        saturation (float): Factor drawn from ``[1 - s, 1 + s]``.
            Defaults to 0.3.
        hue (float): Hue shift drawn from ``[-h, h]``. Defaults to 0.1.
    """

    def __init__(self,
                 brightness: float = 0.3,
                 contrast: float = 0.3,
                 saturation: float = 0.3,
                 hue: float = 0.1) -> None:
        self.jitter = ColorJitter(brightness, contrast, saturation, hue)

    def transform(self, results: dict) -> dict:
        rgb = Image.fromarray(np.ascontiguousarray(results['img'][..., ::-1]))
        out = np.asarray(self.jitter(rgb))[..., ::-1]
        results['img'] = np.ascontiguousarray(out)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.jitter!r})'
