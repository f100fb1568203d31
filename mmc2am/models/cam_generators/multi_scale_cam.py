"""MultiScaleCAM: IRN's multi-scale + flip CAMs, the default CAM generator."""
from typing import List, Sequence

from torch import Tensor, nn

from mmc2am.cam.cam_inference import predict_cams
from mmc2am.registry import MODELS

from .base_cam_generator import BaseCAMGenerator


@MODELS.register_module()
class MultiScaleCAM(BaseCAMGenerator):
    """Plain CAMs at several scales, flips added (IRN's ``make_cam.py``).

    What ``CAMClassifier``'s CAM test mode runs when ``model.test_cfg`` has
    no ``cam_generator``: :func:`mmc2am.cam.predict_cams` (one forward per
    scale for the images of one size and their flips, without gradients;
    samples that came with their CAM files kept as they are).

    Args:
        scales (Sequence[float]): Image scales. Defaults to IRN's
            (1.0, 0.5, 1.5, 2.0).
        flip (bool): Add each scale's horizontal flip. Defaults to True.
        reference (bool): Run the plain per-image, per-scale, per-flip loop
            instead (:func:`mmc2am.cam.multi_scale_cam_reference`), for
            checks and benchmarks. Defaults to False.
    """

    def __init__(self,
                 scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
                 flip: bool = True,
                 reference: bool = False) -> None:
        super().__init__(scales, flip)
        self.reference = bool(reference)

    def __call__(self, model: nn.Module, inputs: Tensor,
                 data_samples: list) -> List:
        """See :meth:`BaseCAMGenerator.__call__`; ``model`` needs
        ``forward_cam`` only."""
        self.check_image_sizes(inputs, data_samples)
        return predict_cams(model, inputs, data_samples, self.scales,
                            self.flip, self.reference)
