"""SEAM's classifier: the CAM classifier trained on two views of each image.

SEAM (Wang et al., CVPR 2020; YudeWang/SEAM ``train_SEAM.py`` lines
104-113) runs the network on the image and on its 0.3x downscale
(``F.interpolate(img, scale_factor=0.3, mode='bilinear',
align_corners=True)``), and its losses compare the two views
(:class:`~mmc2am.models.heads.SEAMHead`). At inference the CAM is the
PCM-refined one (``infer_SEAM.py`` line 60), which :meth:`forward_cam`
returns, so the CAM generators (``MultiScaleCAM``, ``SEAMCAM``) and the
CAM files take SEAM's maps.
"""
from typing import List, Optional

import torch.nn.functional as F
from mmpretrain.structures import DataSample
from torch import Tensor

from mmc2am.registry import MODELS

from .cam_classifier import CAMClassifier


@MODELS.register_module()
class SEAMClassifier(CAMClassifier):
    """:class:`CAMClassifier` with SEAM's two-view training and PCM CAMs.

    Args:
        scale_factor (float): Scale of the second view. Defaults to 0.3.
        **kwargs: :class:`CAMClassifier` arguments; the head must be a
            :class:`SEAMHead` (``loss`` with both views, ``refined_cam``)
            and the backbone must output the stages the PCM embeds and the
            last one (``out_indices=(1, 2, 3)``).
    """

    def __init__(self, *args, scale_factor: float = 0.3, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 < scale_factor < 1:
            raise ValueError(f'scale_factor must be in (0, 1), got '
                             f'{scale_factor}')
        if not hasattr(self.head, 'refined_cam'):
            raise TypeError(f'{type(self.head).__name__} is not a SEAM head '
                            '(no refined_cam)')
        self.scale_factor = scale_factor

    def small_view(self, inputs: Tensor) -> Tensor:
        """The downscaled view (``train_SEAM.py`` line 106)."""
        return F.interpolate(
            inputs,
            scale_factor=self.scale_factor,
            mode='bilinear',
            align_corners=True)

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        """SEAM's losses of a (B, 3, H, W) batch and its downscale."""
        small = self.small_view(inputs)
        return self.head.loss(
            self.extract_feat(inputs),
            data_samples,
            img=inputs,
            small_feats=self.extract_feat(small),
            small_img=small)

    def forward_cam(self, inputs: Tensor, refine: Optional[bool] = True
                    ) -> Tensor:
        """CAMs of a normalised batch, (B, C, h, w) at the feature size.

        Args:
            inputs (Tensor): (B, 3, H, W).
            refine (bool): SEAM's PCM-refined CAM (its inference) or, if
                False, the plain ``relu(conv1x1(f))``.
        """
        feats = self.extract_feat(inputs)
        if not refine:
            return self.head.cam(feats)
        return self.head.refined_cam(feats, inputs)
