"""DeepLab-v2's multi-scale inputs fused by max (MSC), with a test-time CRF.

deeplab-pytorch's ``MSC`` (``libs/models/msc.py`` lines 13-47; C2AM's
``segmentation/libs/models/msc.py`` 7-41 is the same) runs the network on the
image and on copies resized by each of ``scales`` (0.5 and 0.75), resizes
every scale's logits to those of the full-size input and takes the
element-wise max. In training it returns every scale's logits (at its own
size) and the fused ones, and the loss is the sum of the losses of all of
them (deeplab-pytorch's ``main.py`` train, lines 229-236, C2AM's 232-236:
the labels are resized to each logit map by nearest neighbour,
``resize_labels`` lines 70-82, C2AM's 82-89); at test only the fused
logits, which are resized to the image, soft-maxed and, in the ``crf``
step, refined by a dense CRF (``main.py`` 413-491, C2AM's 523-594).

:class:`MSCEncoderDecoder` is :class:`CRFEncoderDecoder` (mmseg's
``EncoderDecoder`` with the test-time CRF) with that forward:
``encode_decode`` (whole or slide inference) returns the fused logits,
``loss`` sums the decode head's losses of each scale and of the fused
logits, and ``test_cfg.crf`` (a dict of :func:`dense_crf` settings, ``{}``
for deeplab-pytorch's values) refines each image's softmax before the
argmax.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from mmseg.utils import add_prefix
from torch import Tensor

from mmc2am.registry import MODELS

from .crf_encoder_decoder import CRFEncoderDecoder


@MODELS.register_module()
class MSCEncoderDecoder(CRFEncoderDecoder):
    """Encoder-decoder on multi-scale inputs fused by max (DeepLab-v2 MSC).

    For an input batch ``x`` (B, 3, H, W): ``l_1 = f(x)`` (B, K, h, w), for
    each ``s`` in ``msc_scales`` ``l_s = f(interp(x, scale_factor=s))``
    (bilinear, ``align_corners=False``, as the reference), and
    ``l_max = max(l_1, resize(l_s, (h, w)) for s)`` element-wise.

    - ``loss``: the decode head's ``loss_by_feat`` on ``l_1``, each ``l_s``
      and ``l_max``, summed (keys ``decode_1x.*``, ``decode_<s>x.*``,
      ``decode_max.*``). With ``downsample_labels`` (the reference) each loss
      compares the logits at their own size with the labels resized to it
      by nearest neighbour (``'nearest-exact'``: PIL's ``NEAREST``, which
      the reference uses); without, mmseg's way: logits upsampled to the
      labels (bilinear). With no ``msc_scales`` only ``l_1`` is used.
    - ``predict`` / ``encode_decode`` / ``_forward``: ``l_max``.
    - ``test_cfg.crf`` (dict, optional): per image, the softmax of the
      logits at the original size and the image (the input un-normalised
      with the data preprocessor's mean / std, padding removed, flip undone,
      resized to the original size) go through :func:`dense_crf`
      (deeplab-pytorch's settings updated with the dict's); ``pred_sem_seg``
      is the argmax of the result, ``seg_logits`` stays the network's
      (:class:`CRFEncoderDecoder`).

    Args:
        msc_scales (Sequence[float]): Extra input scales; the full-size input
            is always used and sets the fused size. Defaults to the
            reference's (0.5, 0.75).
        downsample_labels (bool): Loss at each logit map's size against the
            labels resized to it (the reference), or at the labels' size.
        **kwargs: ``EncoderDecoder`` arguments (``backbone``,
            ``decode_head``, ``test_cfg``, ...); no ``auxiliary_head``.
    """

    def __init__(self,
                 msc_scales: Sequence[float] = (0.5, 0.75),
                 downsample_labels: bool = True,
                 **kwargs) -> None:
        if kwargs.get('auxiliary_head') is not None:
            raise ValueError('MSCEncoderDecoder has no auxiliary head '
                             '(DeepLab-v2 has none)')
        super().__init__(**kwargs)
        self.msc_scales = tuple(float(s) for s in msc_scales)
        if any(s <= 0 for s in self.msc_scales):
            raise ValueError(f'msc_scales must be positive, got {msc_scales}')
        self.downsample_labels = bool(downsample_labels)

    # -- the multi-scale forward ----------------------------------------
    def _logits(self, inputs: Tensor) -> Tensor:
        """Decode-head logits (B, K, h, w) of a batch (B, 3, H, W)."""
        return self.decode_head.forward(self.extract_feat(inputs))

    def multi_scale_logits(self, inputs: Tensor) -> List[Tensor]:
        """``[l_1, l_s for s in msc_scales, l_max]`` of a batch.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.

        Returns:
            list[Tensor]: ``l_1`` (B, K, h, w), each ``l_s`` at its own size,
            and ``l_max`` (B, K, h, w); just ``[l_1]`` without
            ``msc_scales``.
        """
        logits = self._logits(inputs)
        if not self.msc_scales:
            return [logits]
        size = logits.shape[2:]
        pyramid = [
            self._logits(
                F.interpolate(
                    inputs, scale_factor=s, mode='bilinear',
                    align_corners=False)) for s in self.msc_scales
        ]
        resized = [logits] + [
            F.interpolate(
                lg, size=size, mode='bilinear', align_corners=False)
            for lg in pyramid
        ]
        fused = torch.stack(resized).max(dim=0)[0]
        return [logits] + pyramid + [fused]

    def fused_logits(self, inputs: Tensor) -> Tensor:
        """``l_max`` (B, K, h, w) of a batch (B, 3, H, W)."""
        return self.multi_scale_logits(inputs)[-1]

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Fused logits resized to the input (decode head's
        ``predict_by_feat``): (B, K, H, W)."""
        return self.decode_head.predict_by_feat(
            self.fused_logits(inputs), batch_img_metas)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[List[SegDataSample]] = None
                 ) -> Tensor:
        """Fused logits (B, K, h, w), without post-processing."""
        return self.fused_logits(inputs)

    # -- training ---------------------------------------------------------
    def _labels_at(self, data_samples: List[SegDataSample],
                   size: Sequence[int]) -> List[SegDataSample]:
        """Samples whose ``gt_sem_seg`` is resized to ``size`` (h, w) by
        nearest neighbour (PIL's ``NEAREST`` = torch's
        ``'nearest-exact'``)."""
        out = []
        for sample in data_samples:
            gt = sample.gt_sem_seg.data
            if tuple(gt.shape[-2:]) != tuple(size):
                gt = F.interpolate(
                    gt[None].float(), size=tuple(size),
                    mode='nearest-exact')[0].to(gt.dtype)
            new = SegDataSample(metainfo=sample.metainfo)
            new.gt_sem_seg = PixelData(data=gt)
            out.append(new)
        return out

    def loss(self, inputs: Tensor, data_samples: List[SegDataSample]) -> dict:
        """Decode-head losses of every scale's logits and of the fused ones.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[SegDataSample]): With ``gt_sem_seg`` (1, H, W).

        Returns:
            dict[str, Tensor]: ``decode_1x.loss_ce``, ``decode_<s>x.loss_ce``
            per scale, ``decode_max.loss_ce`` (and their ``acc_seg``);
            mmengine sums the ``loss`` keys.
        """
        all_logits = self.multi_scale_logits(inputs)
        names = ['1x'] + [f'{s:g}x' for s in self.msc_scales]
        if len(all_logits) > 1:
            names.append('max')
        losses = dict()
        for name, logits in zip(names, all_logits):
            samples = (self._labels_at(data_samples, logits.shape[2:])
                       if self.downsample_labels else data_samples)
            losses.update(
                add_prefix(
                    self.decode_head.loss_by_feat(logits, samples),
                    f'decode_{name}'))
        return losses
