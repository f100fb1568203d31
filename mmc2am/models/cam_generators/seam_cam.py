"""SEAMCAM: SEAM's inference CAMs (``infer_SEAM.py``) as a CAM generator.

YudeWang/SEAM ``infer_SEAM.py``: scales (0.5, 1.0, 1.5, 2.0) with flips
(``VOC12ClsDatasetMSF``), the PCM-refined CAM of each (line 60, the
``SEAMClassifier.forward_cam``), resized to the image, the present classes
kept (line 62), summed over scales and flips (line 72), then each class
min-max normalised (lines 73-77):
``(s - min - 1e-5) / (max - min + 1e-5)``, the pixels below ``min + 1e-5``
set to 0 first, which makes them slightly negative; here they are 0 (the
``relu`` of ``visualization.max_norm``, the same normalisation in the
reference's torch form): no seed or mask changes for a positive background
score. The seeds are then taken at SEAM's background score 0.26 (line 28,
``--out_cam_pred_alpha``), one of ``SeedMetric``'s thresholds.

The sum over scales is :func:`mmc2am.cam.multi_scale_cam`'s (the stride-4
and full-resolution maps the CAM files hold), which resizes each scale's
map to IRN's padded size and crops, where SEAM resizes straight to the
image size.
"""
from typing import List, Sequence

import torch
from torch import Tensor, nn

from mmc2am.cam.cam_inference import (
    check_batch,
    image_size,
    sample_keys,
    set_cam_fields,
)
from mmc2am.cam.multi_scale import multi_scale_cam
from mmc2am.registry import MODELS

from .base_cam_generator import BaseCAMGenerator


def min_max_normalize(cams: Tensor, eps: float = 1e-5) -> Tensor:
    """``relu(x - min - eps) / (max - min + eps)`` per map of a (K, h, w)
    stack (``x`` the ``relu`` of the input)."""
    if cams.numel() == 0:
        return cams
    x = cams.clamp(min=0)
    flat = x.flatten(1)
    hi = flat.max(dim=1)[0][:, None, None]
    lo = flat.min(dim=1)[0][:, None, None]
    return (x - lo - eps).clamp(min=0) / (hi - lo + eps)


@MODELS.register_module()
class SEAMCAM(BaseCAMGenerator):
    """SEAM's multi-scale + flip PCM CAMs, min-max normalised.

    Args:
        scales (Sequence[float]): Image scales. Defaults to SEAM's
            (0.5, 1.0, 1.5, 2.0).
        flip (bool): Add each scale's flip. Defaults to True.
        refine (bool): The PCM-refined CAMs (SEAM's inference); False: the
            plain CAMs of the same classifier. Defaults to True.
    """

    def __init__(self,
                 scales: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
                 flip: bool = True,
                 refine: bool = True) -> None:
        super().__init__(scales, flip)
        self.refine = bool(refine)

    def __call__(self, model: nn.Module, inputs: Tensor,
                 data_samples: list) -> List:
        """See :meth:`BaseCAMGenerator.__call__`; ``model`` is a
        :class:`~mmc2am.models.SEAMClassifier` (``forward_cam(x,
        refine)``). Samples read back from their CAM files are kept."""
        check_batch(inputs, data_samples)
        self.check_image_sizes(inputs, data_samples)

        def cam_fn(x: Tensor) -> Tensor:
            return model.forward_cam(x, refine=self.refine)

        with torch.no_grad():
            for i, sample in enumerate(data_samples):
                h, w = image_size(sample, inputs)
                if sample.get('cam_from_file', False):
                    set_cam_fields(sample, torch.as_tensor(sample.cam_keys),
                                   sample.cam, sample.high_res_cam, True)
                    continue
                keys = sample_keys(sample)
                strided, high_res = multi_scale_cam(
                    cam_fn, inputs[i:i + 1, :, :h, :w], self.scales,
                    self.flip, keys=[keys])
                set_cam_fields(sample, keys,
                               min_max_normalize(strided[0]).float().cpu(),
                               min_max_normalize(high_res[0]).float().cpu(),
                               False)
        return data_samples
