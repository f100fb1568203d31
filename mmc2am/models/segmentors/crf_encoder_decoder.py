"""mmseg's ``EncoderDecoder`` with DeepLab's test-time dense CRF.

DeepLab-v2 (deeplab-pytorch ``main.py`` 413-491, C2AM's
``segmentation/main.py`` 523-594) refines each test image's softmax with a
fully connected CRF before the argmax; the WSSS papers' val / test figures
are taken after it. :class:`CRFEncoderDecoder` adds that step to any mmseg
encoder-decoder (DeepLabV3+ included, auxiliary head allowed), so a
segmenter is scored under the papers' protocol with ``test_cfg.crf``.
:class:`MSCEncoderDecoder` (DeepLab-v2's multi-scale inputs) builds on it.
"""
from typing import List, Optional

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.structures import SegDataSample
from torch import Tensor

from mmc2am.registry import MODELS

from .dense_crf import crf_cfg, dense_crf


@MODELS.register_module()
class CRFEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose ``predict`` ends with a dense CRF.

    ``test_cfg.crf`` (dict, optional): per image, the softmax of the logits
    at the original size and the image (the input un-normalised with the
    data preprocessor's mean / std, padding removed, flip undone, resized to
    the original size) go through :func:`dense_crf` (deeplab-pytorch's
    settings, :data:`DEEPLAB_CRF`, updated with the dict's); ``pred_sem_seg``
    is the argmax of the result, ``seg_logits`` stays the network's. Without
    ``crf`` it is mmseg's ``EncoderDecoder`` unchanged (same state_dict
    keys, so a checkpoint of one loads into the other).

    Args:
        **kwargs: ``EncoderDecoder`` arguments.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        test_cfg = self.test_cfg or {}
        self.crf = crf_cfg(test_cfg.get('crf'))

    def _image_of(self, inputs: Tensor, meta: dict) -> np.ndarray:
        """The (H, W, 3) uint8 image of one input (3, H', W') at
        ``meta['ori_shape']``: un-normalised, padding removed, flip undone,
        resized (bilinear) if the pipeline resized it."""
        img = inputs.detach().float()
        pre = self.data_preprocessor
        if getattr(pre, '_enable_normalize', False):
            img = img * pre.std.to(img) + pre.mean.to(img)
        padding = meta.get('img_padding_size', meta.get('padding_size'))
        h, w = img.shape[1:]
        if padding is not None:
            left, right, top, bottom = padding
            img = img[:, top:h - bottom, left:w - right]
        if meta.get('flip', False):
            dims = (2, ) if meta.get('flip_direction') == 'horizontal' else (
                1, )
            img = img.flip(dims=dims)
        ori = tuple(int(v) for v in meta['ori_shape'][:2])
        if tuple(img.shape[1:]) != ori:
            img = resize(img[None], size=ori, mode='bilinear',
                         align_corners=False)[0]
        img = img.round().clamp(0, 255).to(torch.uint8)
        return np.ascontiguousarray(img.permute(1, 2, 0).cpu().numpy())

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        """mmseg's prediction, then (``test_cfg.crf``)
        the dense CRF of each image's softmax.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[SegDataSample], optional): Their metainfo.

        Returns:
            list[SegDataSample]: With ``seg_logits`` (K, H0, W0) and
            ``pred_sem_seg`` (1, H0, W0) at the original size.
        """
        results = super().predict(inputs, data_samples)
        if self.crf is None:
            return results
        for i, sample in enumerate(results):
            meta = sample.metainfo if data_samples is not None else dict(
                ori_shape=inputs.shape[2:])
            img = self._image_of(inputs[i], meta)
            logits = sample.seg_logits.data
            probs = logits.float().softmax(dim=0).cpu().numpy()
            q = dense_crf(img, probs, **self.crf)
            pred = torch.from_numpy(q.argmax(axis=0)).to(logits.device)
            sample.pred_sem_seg = PixelData(data=pred[None])
        return results
