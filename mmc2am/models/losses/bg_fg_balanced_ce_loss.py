"""C2AM's segmentation loss: background and foreground cross-entropy, halved.

C2AM's DeepLab-v2 training (``segmentation/main.py`` lines 27-40,
``criterion_balance``, used at line 236 in place of deeplab-pytorch's plain
``nn.CrossEntropyLoss``) averages the per-pixel cross-entropy over the
background pixels (label 0) and over the foreground pixels (1..K-1, not the
ignore label) separately and returns their mean::

    loss = (mean_{y = 0} CE + mean_{0 < y != ignore} CE) / 2

so background, which covers most pseudo-mask pixels, weighs as much as all
foreground together. The reference divides by the group's pixel count, a
crop without foreground (or without background) gives 0/0 = NaN there; here
an empty group adds 0 (the other group's mean is halved all the same).
"""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmc2am.registry import MODELS


@MODELS.register_module()
class BgFgBalancedCELoss(nn.Module):
    """Mean of the background and the foreground mean cross-entropy.

    Args:
        background_index (int): The background label. Defaults to 0.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Name in the loss dict (must start with ``loss_``).
            Defaults to ``'loss_ce'``.
    """

    def __init__(self,
                 background_index: int = 0,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f'loss_name must start with loss_, got '
                             f'{loss_name!r}')
        self.background_index = int(background_index)
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: int = 255,
                **kwargs) -> Tensor:
        """The balanced loss (a scalar).

        Args:
            cls_score (Tensor): (B, K, H, W) logits.
            label (Tensor): (B, H, W) int labels, ``ignore_index`` ignored.
            weight (Tensor, optional): (B, H, W) per-pixel weights (mmseg's
                pixel sampler); None for 1.
            ignore_index (int): Ignored label. Defaults to 255.
        """
        ce = F.cross_entropy(
            cls_score, label, reduction='none', ignore_index=ignore_index)
        if weight is not None:
            ce = ce * weight.float()
        bg = label == self.background_index
        fg = (~bg) & (label != ignore_index)
        loss_bg = (ce * bg).sum() / bg.sum().clamp(min=1)
        loss_fg = (ce * fg).sum() / fg.sum().clamp(min=1)
        return self.loss_weight * (loss_bg + loss_fg) / 2

    @property
    def loss_name(self) -> str:
        """Key of the loss in the loss dict."""
        return self._loss_name
