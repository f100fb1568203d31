"""SEAM's Pixel Correlation Module (PCM): a CAM refined by feature affinity.

SEAM (Wang et al., CVPR 2020, "Self-supervised Equivariant Attention
Mechanism for Weakly Supervised Semantic Segmentation"; public code
YudeWang/SEAM, ``network/resnet38_SEAM.py``) refines the CAM of an image by
the cosine affinity of its pixels in a learnt embedding:

1. the CAM input (:meth:`PixelCorrelationModule.normalize_cam`, lines
   34-40): ``relu`` of the detached (C + 1)-channel CAM (background first),
   each channel divided by its max (``relu(cam - 1e-5) / (max + 1e-5)``),
   the background channel set to ``1 - max_c cam_c`` over the foreground
   channels, and every foreground value below the pixel's foreground max set
   to 0;
2. the embedding (lines 42-45, 55): two backbone stages, detached, each
   through a 1x1 conv without bias and a ReLU (``f8_3``: 512 -> 64,
   ``f8_4``: 1024 -> 128 on ResNet-38), concatenated with the image
   resized (bilinear, ``align_corners=True``) to the CAM's size, then a
   1x1 conv without bias (``f9``: 192 + 3 -> 192);
3. the affinity (lines 56-60): ``e_p`` the embedding of pixel ``p``
   divided by ``(||e_p|| + 1e-5)``, ``a_pq = relu(e_p . e_q)``, each column
   normalised, ``A_pq = a_pq / (sum_p' a_p'q + 1e-5)``;
4. the refined CAM (line 61): ``y_q = sum_p x_p A_pq`` over the h x w
   pixels, for every channel: pixel ``q`` is the affinity-weighted mean of
   the CAM over the pixels similar to it.

The affinity ``a`` is symmetric, so "each column" of ``a`` is also "each
row" of ``a^T``: the weights of one output pixel sum to 1 (up to the
1e-5). Gradients reach only the PCM's own convolutions: the CAM and the
backbone features are detached, as in the reference.

Differences from the reference (configs/seam/README.md): on ResNet-38 the
two stages and the CAM all have stride 8; on the project's ResNets (output
stride 16) the first stage (``layer2``, stride 8) is resized (bilinear,
``align_corners=True``) to the CAM's size before the concatenation.
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmc2am.registry import MODELS


@MODELS.register_module()
class PixelCorrelationModule(nn.Module):
    """SEAM's PCM: ``y = x A`` with ``A`` the column-normalised ReLU cosine
    affinity of an embedding of two backbone stages and the image.

    Args:
        in_channels (Sequence[int]): Channels of the two backbone stages
            (ResNet-38: 512, 1024; ResNet-50: ``layer2`` 512, ``layer3``
            1024; ResNet-18: 128, 256).
        mid_channels (Sequence[int]): Width of each stage's projection
            (SEAM: 64, 128).
        out_channels (int, optional): Width of the embedding. None means
            ``sum(mid_channels)`` (SEAM: 192).
        image_channels (int): Channels of the image that joins the
            embedding. Defaults to 3.
        eps (float): The 1e-5 of the norms and the column sums.

    Init (``resnet38_SEAM.py`` lines 23-25): the stage projections
    ``kaiming_normal_``, the embedding ``xavier_uniform_(gain=4)``.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024),
                 mid_channels: Sequence[int] = (64, 128),
                 out_channels: int = None,
                 image_channels: int = 3,
                 eps: float = 1e-5) -> None:
        super().__init__()
        if len(in_channels) != len(mid_channels) or not in_channels:
            raise ValueError(f'in_channels {tuple(in_channels)} and '
                             f'mid_channels {tuple(mid_channels)} must name '
                             'the same (non-zero) number of stages')
        if out_channels is None:
            out_channels = sum(mid_channels)
        self.in_channels = tuple(in_channels)
        self.eps = eps
        # f8_3, f8_4
        self.projections = nn.ModuleList(
            nn.Conv2d(i, m, 1, bias=False)
            for i, m in zip(in_channels, mid_channels))
        # f9
        self.embed = nn.Conv2d(
            sum(mid_channels) + image_channels, out_channels, 1, bias=False)
        for conv in self.projections:
            nn.init.kaiming_normal_(conv.weight)
        nn.init.xavier_uniform_(self.embed.weight, gain=4)

    @staticmethod
    def normalize_cam(cam: Tensor, eps: float = 1e-5) -> Tensor:
        """SEAM's input of the PCM (``resnet38_SEAM.py`` lines 34-40).

        Args:
            cam (Tensor): (B, C + 1, h, w) raw CAM logits, background
                channel first. Detached here.
            eps (float): The 1e-5 of the reference.

        Returns:
            Tensor: (B, C + 1, h, w): channel-wise max-normalised ``relu``
            CAM, background ``1 - max_c``, foreground kept only where it is
            the pixel's foreground max (ties all kept).
        """
        with torch.no_grad():
            x = F.relu(cam.detach())
            peak = x.flatten(2).max(dim=-1)[0][..., None, None] + eps
            x = F.relu(x - eps) / peak
            fg_max = x[:, 1:].max(dim=1, keepdim=True)[0]
            x[:, :1] = 1 - fg_max
            fg = x[:, 1:]
            fg[fg < fg_max] = 0
        return x

    def embedding(self, feats: Sequence[Tensor], img: Tensor,
                  size: Tuple[int, int]) -> Tensor:
        """The (B, out_channels, h, w) embedding (before normalisation).

        Args:
            feats (Sequence[Tensor]): The two stages' (B, K_i, h_i, w_i)
                features (detached here).
            img (Tensor): (B, 3, H, W) the normalised input image.
            size (tuple[int, int]): ``(h, w)``, the CAM's size.
        """
        if len(feats) != len(self.projections):
            raise ValueError(f'{len(feats)} feature maps for '
                             f'{len(self.projections)} projections')
        parts = [F.interpolate(img, size, mode='bilinear', align_corners=True)]
        for f, conv in zip(feats, self.projections):
            f = F.relu(conv(f.detach()))
            if f.shape[-2:] != tuple(size):
                f = F.interpolate(f, size, mode='bilinear', align_corners=True)
            parts.append(f)
        return self.embed(torch.cat(parts, dim=1))

    def affinity(self, embedding: Tensor) -> Tensor:
        """Column-normalised ReLU cosine affinity, (B, hw, hw).

        ``A[b, p, q] = a_pq / (sum_p' a_p'q + eps)``, ``a_pq = relu(e_p .
        e_q)``, ``e_p = f_p / (||f_p|| + eps)``.
        """
        B = embedding.shape[0]
        f = embedding.reshape(B, embedding.shape[1], -1)
        f = f / (torch.norm(f, dim=1, keepdim=True) + self.eps)
        aff = F.relu(f.transpose(1, 2) @ f)
        return aff / (aff.sum(dim=1, keepdim=True) + self.eps)

    def forward(self, cam: Tensor, feats: Sequence[Tensor],
                img: Tensor) -> Tensor:
        """Refine a CAM (``resnet38_SEAM.py`` ``PCM``, lines 52-63).

        Args:
            cam (Tensor): (B, N, h, w) the CAM to refine (SEAM: the output
                of :meth:`normalize_cam`), at the size of the embedding.
            feats (Sequence[Tensor]): The two stages' features.
            img (Tensor): (B, 3, H, W) the normalised input image.

        Returns:
            Tensor: (B, N, h, w) ``cam @ A``.
        """
        B, N, h, w = cam.shape
        aff = self.affinity(self.embedding(feats, img, (h, w)))
        return (cam.reshape(B, N, h * w) @ aff).reshape(B, N, h, w)
