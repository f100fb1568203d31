"""Base of the CAM generators: what a CAM classifier's CAM test mode runs.

A CAM generator turns a batch of images and their data samples into the
CAMs of each image's ground-truth classes. ``CAMClassifier`` builds one
from ``model.test_cfg.cam_generator`` (default ``dict(type='MultiScaleCAM')``)
and calls it in ``predict`` when ``test_cfg.mode == 'cam'``; the seed
metric, the CAM files (``CAMFileHook``) and every later stage read the
fields it fills, whichever generator made them.
"""
from abc import ABCMeta, abstractmethod
from typing import List, Sequence

from torch import Tensor, nn

from mmc2am.cam.cam_inference import image_size, sample_keys
from mmc2am.cam.multi_scale import check_scales


class BaseCAMGenerator(metaclass=ABCMeta):
    """Multi-scale (+ flip) CAMs of the ground-truth classes of each image.

    Every generator takes the image scales and flips (the keys ``scales``
    and ``flip`` of ``model.test_cfg``, which ``CAMClassifier`` passes on)
    and fills, per data sample, the fields of
    :func:`mmc2am.cam.predict_cams`: ``cam`` (K, ceil(h/4), ceil(w/4)) and
    ``high_res_cam`` (K, h, w) float32 CPU tensors, each class divided by
    (its max + 1e-5), metainfo ``cam_keys`` (K,) int64 (the 0-based
    ground-truth classes, ascending) and ``cam_from_file``.

    Args:
        scales (Sequence[float]): Image scales. Defaults to IRN's
            (1.0, 0.5, 1.5, 2.0).
        flip (bool): Add each scale's horizontal flip. Defaults to True.
    """

    def __init__(self,
                 scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
                 flip: bool = True) -> None:
        self.scales = tuple(scales)
        self.flip = bool(flip)

    @abstractmethod
    def __call__(self, model: nn.Module, inputs: Tensor,
                 data_samples: list) -> List:
        """Add ``cam_keys``, ``cam`` and ``high_res_cam`` to each sample.

        Args:
            model (nn.Module): A CAM classifier (``forward_cam``,
                ``extract_feat``, ``head.cam``).
            inputs (Tensor): (B, 3, H, W) normalised images, padded at the
                bottom and right to a common size.
            data_samples (list): B mmpretrain ``DataSample`` with
                ``gt_label`` and ``img_shape``.

        Returns:
            list: The same samples with the CAM fields.
        """

    def check_image_sizes(self, inputs: Tensor, data_samples: list) -> None:
        """Refuse images that a scale shrinks to nothing, naming the image
        (its ``img_path``) and the scale, before any forward pass.

        Samples that came with their CAMs (``cam_from_file``) or have no
        class (no forward pass) are skipped.

        Raises:
            ValueError: From :func:`mmc2am.cam.multi_scale.check_scales`.
        """
        for sample in data_samples:
            if sample.get('cam_from_file', False) or \
                    sample_keys(sample).numel() == 0:
                continue
            h, w = image_size(sample, inputs)
            name = sample.get('img_path', None) or sample.get('img_id', None)
            check_scales(h, w, self.scales, name)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items())
        return f'{type(self).__name__}({args})'
