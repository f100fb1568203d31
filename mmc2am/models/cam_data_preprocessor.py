"""Data preprocessor of the CAM classifiers: mmpretrain's, with a lean
training path for image-level multi-label targets.

In a training step :class:`~mmpretrain.models.ClsDataPreprocessor` builds the
multi-hot targets on the device: it copies the concatenated labels there (a
blocking copy, so the host waits for the GPU), then runs ``one_hot``, one sum
per image and a stack, about 20 small kernels, before the forward pass can
start; the head then casts each image's (int64) target to float, one kernel
per image. On a GPU the step waits for that host work.
:class:`CAMDataPreprocessor` builds the (B, C) float32 multi-hot targets on
the host (four CPU ops), copies them to the device in one go, and
optionally copies the images with ``non_blocking=True``, so that with a
``pin_memory=True`` dataloader the copies overlap with the host launching the
forward pass. The images are normalised exactly as ``ClsDataPreprocessor``
does.
"""
from typing import List, Optional

import torch
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor
from mmpretrain.structures import DataSample
from torch import Tensor

from mmc2am.registry import MODELS


@MODELS.register_module()
class CAMDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` with host-side multi-hot targets in training.

    Args:
        non_blocking (bool): Copy the batch to the device with
            ``non_blocking=True``: asynchronous when the dataloader pins its
            memory (``pin_memory=True``). Defaults to False.
        **kwargs: ``ClsDataPreprocessor``'s arguments (``mean``, ``std``,
            ``to_rgb``, ``to_onehot``, ``num_classes``, ...).

    In training (``training=True``), when ``to_onehot`` is set, no batch
    augmentation is configured, ``num_classes`` is known and every data
    sample has a ``gt_label`` and no ``gt_score``, each sample gets
    ``gt_score``: a (C,) float32 multi-hot row of one (B, C) device tensor;
    its ``gt_label`` stays as the dataloader gave it (on the host). Every
    other case (validation and test, batch augments, ready-made scores) runs
    ``ClsDataPreprocessor.forward`` unchanged.
    """

    def __init__(self, non_blocking: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        # read by BaseDataPreprocessor.cast_data for every copy to the device
        self._non_blocking = non_blocking

    def _fast_path(self, samples: Optional[list], training: bool) -> bool:
        return (training and self.to_onehot and self.batch_augments is None
                and self.num_classes is not None and bool(samples)
                and all(isinstance(s, DataSample) and 'gt_label' in s
                        and 'gt_score' not in s for s in samples))

    def multi_hot(self, samples: List[DataSample]) -> Tensor:
        """(B, C) float32 multi-hot targets of the samples' ``gt_label``, on
        the host (pinned when copies are non-blocking and the device is a
        GPU, so that the copy is asynchronous)."""
        labels = [torch.as_tensor(s.gt_label).cpu().long().flatten()
                  for s in samples]
        rows = torch.repeat_interleave(
            torch.arange(len(labels)),
            torch.tensor([len(lb) for lb in labels]))
        pin = self._non_blocking and self.device.type == 'cuda'
        target = torch.zeros(len(labels), self.num_classes, pin_memory=pin)
        target[rows, torch.cat(labels)] = 1.0
        return target

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise the images and, in training, set the multi-hot targets.

        Args:
            data (dict): ``inputs``: a (B, 3, H, W) uint8 tensor
                (``default_collate``) or a list of (3, H, W) ones
                (``pseudo_collate``); ``data_samples``: ``DataSample``s.
            training (bool): Whether it is a training step.

        Returns:
            dict: ``inputs`` (B, 3, H, W) float32 on the device,
            ``data_samples``.
        """
        samples = data.get('data_samples', None)
        if not self._fast_path(samples, training):
            return super().forward(data, training)
        # images first: the largest copy starts as early as possible
        inputs = super().forward({'inputs': data['inputs']}, training)
        target = self.cast_data(self.multi_hot(samples))
        for sample, row in zip(samples, target):
            sample.set_gt_score(row)
        return {'inputs': inputs['inputs'], 'data_samples': samples}
