"""DeepLab-v2's ASPP head: summed dilated 3x3 convolutions to class logits.

DeepLab-v2 (Chen et al., TPAMI 2018) classifies the last backbone feature map
``x`` (B, C_in, h, w) with four parallel 3x3 convolutions of dilations
6, 12, 18, 24 (padding = dilation, so each keeps the size), each straight to
the K class logits, and sums them::

    logits = sum_r conv3x3_{dilation=r}(x) + b_r      (B, K, h, w)

No BN, no ReLU, no image pooling, no 1x1 fusion: that is DeepLab-v3's ASPP
(mmseg's ``ASPPHead``). The reference is deeplab-pytorch's ``_ASPP``
(``libs/models/deeplabv2.py`` lines 17-35, which C2AM's
``segmentation/libs/models/deeplabv2.py`` copies at 11-29): ``nn.Conv2d(in_ch,
out_ch, 3, 1, padding=rate, dilation=rate, bias=True)`` per rate, weights
``normal(0, 0.01)``, biases 0, ``forward = sum(stage(x) ...)``.
"""
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmc2am.registry import MODELS


@MODELS.register_module()
class ASPPV2Head(BaseDecodeHead):
    """DeepLab-v2's ASPP: the sum of dilated 3x3 convolutions to the logits.

    The four branches (``self.aspp[i]``) map ``in_channels`` straight to
    ``num_classes``; mmseg's ``conv_seg`` of :class:`BaseDecodeHead` is not
    used and is removed (no unused parameters under DDP). ``channels`` is
    unused (``BaseDecodeHead`` needs one; it defaults to ``num_classes``).
    The loss and prediction are :class:`BaseDecodeHead`'s.

    Args:
        in_channels (int): Channels of the backbone map (2048 for ResNet-101).
        num_classes (int): Number of classes K (21 on VOC).
        dilations (Sequence[int]): Dilation (= padding) of each branch.
            Defaults to DeepLab-v2's (6, 12, 18, 24) (output stride 8).
        channels (int, optional): Unused; defaults to ``num_classes``.
        dropout_ratio (float): Dropout before the branches; 0 (DeepLab-v2's
            ASPP has none in deeplab-pytorch).
        init_cfg (dict | list[dict], optional): None means the reference's
            ``normal(0, 0.01)`` weights and zero biases on every branch.
        **kwargs: :class:`BaseDecodeHead` arguments (``loss_decode``,
            ``ignore_index``, ``align_corners``, ``in_index``, ...).

    Shapes:
        ``forward(inputs)``: ``inputs[in_index]`` (B, in_channels, h, w) ->
        (B, num_classes, h, w).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 channels: Union[int, None] = None,
                 dropout_ratio: float = 0.0,
                 init_cfg: Union[dict, List[dict], None] = None,
                 **kwargs) -> None:
        if init_cfg is None:
            init_cfg = dict(
                type='Normal', std=0.01, bias=0, override=dict(name='aspp'))
        if not dilations:
            raise ValueError('ASPPV2Head needs at least one dilation')
        super().__init__(
            in_channels=in_channels,
            channels=num_classes if channels is None else channels,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            init_cfg=init_cfg,
            **kwargs)
        if not isinstance(self.in_channels, int):
            raise TypeError('ASPPV2Head takes one input map (in_channels '
                            f'int), got {self.in_channels}')
        del self.conv_seg
        self.dilations = tuple(int(d) for d in dilations)
        self.aspp = nn.ModuleList(
            nn.Conv2d(
                self.in_channels,
                self.out_channels,
                kernel_size=3,
                stride=1,
                padding=d,
                dilation=d,
                bias=True) for d in self.dilations)
        # the reference's init, also without init_weights()
        for conv in self.aspp:
            nn.init.normal_(conv.weight, mean=0.0, std=0.01)
            nn.init.constant_(conv.bias, 0.0)

    def forward(self, inputs: Union[Tuple[Tensor], List[Tensor]]) -> Tensor:
        """Class logits (B, K, h, w): the sum of the branches on the input
        map (B, in_channels, h, w) ``inputs[in_index]``."""
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        out = self.aspp[0](x)
        for conv in self.aspp[1:]:
            out = out + conv(x)
        return out
