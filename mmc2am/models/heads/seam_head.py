"""SEAM head: CAMs with a background channel, the PCM and SEAM's four losses.

SEAM (Wang et al., CVPR 2020, "Self-supervised Equivariant Attention
Mechanism for Weakly Supervised Semantic Segmentation"; public code
YudeWang/SEAM) trains a CAM classifier on two views of each image, the
image ``I_1`` and its 0.3x downscale ``I_2`` (:class:`SEAMClassifier` makes
them), with a Pixel Correlation Module
(:class:`~mmc2am.models.necks.PixelCorrelationModule`) that refines each
view's CAM. Per view ``v`` (``network/resnet38_SEAM.py`` ``forward``,
lines 29-50):

- ``y_v`` (B, C + 1, h, w): the CAM logits ``W f`` of the last feature map
  ``f`` after ``Dropout2d(0.5)``, background channel first (``fc8``: 21
  outputs for VOC); here ``bg_conv`` (1 x K) and the base's ``conv``
  (C x K: the foreground classifier every other head and hook uses), one
  (C + 1) x K matrix initialised ``xavier_uniform_`` (line 22);
- ``y^rv_v``: the PCM of ``y_v`` (its :meth:`normalize_cam`, detached);
- both resized (bilinear, ``align_corners=True``) to the view's input size.

The losses (``train_SEAM.py`` lines 104-142), ``l`` the (B, C + 1) labels
with a background label 1 first, ``x * l`` a product per channel:

- ``loss_cls``: the multi-label soft-margin loss of the foreground part of
  ``GAP(y_v)``, averaged over the views (lines 114, 125-126, 141);
- ``loss_rvmin``: the min-pooling term of ``y^rv_v * l`` (foreground
  channels), averaged over the views (lines 16-24, 115, 121, 141)
  (:meth:`min_pool_loss`): the mean of ``relu`` of the 25 % smallest
  per-pixel class maxima. The reference adds it into ``loss_cls``; here it
  is logged on its own (the total is the same);
- ``loss_er`` (equivariance): ``mean |y'_1 - y'_2|`` over the foreground
  channels, ``y'_1`` the min-max normalised (:meth:`max_norm`) ``y_1``
  resized to ``I_2``'s size, times ``l``, ``y'_2 = max_norm(y_2) * l``
  (lines 116, 122, 129);
- ``loss_ecr`` (equivariant cross-view consistency): with
  ``t_v`` = :meth:`max_onehot` of :meth:`fill_background` of ``y'_v``
  (detached) and ``r'_v`` the PCM maps treated as ``y'_v``,
  ``ecr(t_2, r'_1) + ecr(t_1, r'_2)``, each the mean of the 20 % largest
  values of ``|t - r'|`` per image over all (C + 1) x h_2 x w_2 entries
  (lines 131-139) (:meth:`ecr_loss`).

All weights 1 (line 142; ``loss_weights``). Gradients: ``loss_cls`` and
``loss_er`` train the backbone and the classifier, ``loss_rvmin`` and
``loss_ecr`` the PCM's layers (its inputs are detached).

At inference SEAM takes the PCM-refined CAM (``infer_SEAM.py`` line 60,
:meth:`refined_cam`): the network in eval mode (no dropout), the foreground
channels of ``y^rv``.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.structures import DataSample
from torch import Tensor

from mmc2am.registry import MODELS

from .base_cam_head import BaseCAMHead

DEFAULT_PCM = dict(type='mmc2am.PixelCorrelationModule')
LOSS_TERMS = ('loss_cls', 'loss_rvmin', 'loss_er', 'loss_ecr')


@MODELS.register_module()
class SEAMHead(BaseCAMHead):
    """SEAM's CAM head: background channel, PCM and the two-view losses.

    Args:
        num_classes (int): Foreground classes ``C``.
        in_channels (int): Channels ``K`` of the last backbone feature map.
        pcm (dict): Config of the PCM (:class:`PixelCorrelationModule`);
            its ``in_channels`` are those of the backbone outputs chosen by
            ``pcm_in_indices``.
        pcm_in_indices (Sequence[int]): Indices, in the backbone's output
            tuple, of the two stages the PCM embeds (SEAM: ``conv4`` and
            ``conv5`` of ResNet-38; here ``layer2`` and ``layer3`` with the
            backbone's ``out_indices=(1, 2, 3)``). Defaults to (0, 1).
        dropout (float): ``Dropout2d`` rate before the classifier in
            training (SEAM's ``dropout7``). Defaults to 0.5.
        ecr_ratio (float): Share of the largest entries the ECR loss
            averages. Defaults to 0.2.
        min_pool_ratio (float): Share of the smallest pixels the min-pooling
            loss averages (``k = h w // 4``). Defaults to 0.25.
        loss_weights (dict, optional): Weight of each of ``loss_cls``,
            ``loss_rvmin``, ``loss_er``, ``loss_ecr``. Defaults to 1 each.
        **kwargs: :class:`BaseCAMHead` arguments (``loss``: the
            classification loss module, default the multi-label soft-margin
            loss; ``thr``, ``topk``, ``init_cfg``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 pcm: dict = DEFAULT_PCM,
                 pcm_in_indices: Sequence[int] = (0, 1),
                 dropout: float = 0.5,
                 ecr_ratio: float = 0.2,
                 min_pool_ratio: float = 0.25,
                 loss_weights: Optional[dict] = None,
                 **kwargs):
        super().__init__(num_classes, in_channels, **kwargs)
        unknown = set(loss_weights or {}) - set(LOSS_TERMS)
        if unknown:
            raise ValueError(f'loss_weights: unknown terms {sorted(unknown)}'
                             f', the terms are {LOSS_TERMS}')
        if not 0 < ecr_ratio <= 1 or not 0 < min_pool_ratio <= 1:
            raise ValueError('ecr_ratio and min_pool_ratio must be in (0, 1]')
        self.loss_weights = {k: 1.0 for k in LOSS_TERMS}
        self.loss_weights.update(loss_weights or {})
        self.pcm_in_indices = tuple(pcm_in_indices)
        self.ecr_ratio = ecr_ratio
        self.min_pool_ratio = min_pool_ratio
        self.dropout = nn.Dropout2d(dropout)
        # fc8 of resnet38_SEAM.py: one (C + 1) x K matrix, xavier_uniform_;
        # row 0 (background) in bg_conv, the rest in the base's conv
        self.bg_conv = nn.Conv2d(in_channels, 1, 1, bias=False)
        weight = torch.empty(num_classes + 1, in_channels)
        nn.init.xavier_uniform_(weight)
        with torch.no_grad():
            self.bg_conv.weight.copy_(weight[:1, :, None, None])
            self.conv.weight.copy_(weight[1:, :, None, None])
        self.pcm = MODELS.build(pcm)

    # ------------------------------------------------------------------ #
    # the network of one view
    # ------------------------------------------------------------------ #
    def logit_map(self, f: Tensor) -> Tensor:
        """(B, C + 1, h, w) CAM logits, background first, of a (B, K, h, w)
        feature map."""
        return torch.cat([self.bg_conv(f), self.conv(f)], dim=1)

    def pcm_feats(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """The backbone stages the PCM embeds."""
        if not isinstance(feats, (tuple, list)) or len(feats) <= max(
                self.pcm_in_indices):
            raise ValueError(
                'SEAMHead needs the backbone stages '
                f'{self.pcm_in_indices} and the last one: set the '
                "backbone's out_indices, e.g. (1, 2, 3)")
        return [feats[i] for i in self.pcm_in_indices]

    def view(self, feats: Sequence[Tensor],
             img: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """One view's CAM logits, PCM maps and classifier features.

        Args:
            feats (Sequence[Tensor]): Backbone outputs; the last is ``f``.
            img (Tensor): (B, 3, H, W) the normalised view.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``y`` and ``y^rv`` (B, C + 1,
            h, w) at the feature size, and the (B, K, h, w) features after
            the dropout.
        """
        f = self.dropout(self.pre_logits(feats))
        cam = self.logit_map(f)
        cam_rv = self.pcm(self.pcm.normalize_cam(cam), self.pcm_feats(feats),
                          img)
        return cam, cam_rv, f

    def refined_cam(self, feats: Sequence[Tensor], img: Tensor) -> Tensor:
        """SEAM's CAM at inference: the foreground channels of the PCM
        output, (B, C, h, w) (``infer_SEAM.py`` line 60: ``cam_rv``)."""
        return self.view(feats, img)[1][:, 1:]

    def class_scores(self, f: Tensor, cam: Tensor) -> Tensor:
        """The (B, C) scores of the classification loss: the foreground part
        of ``GAP(y)`` (``train_SEAM.py`` line 114).

        Args:
            f (Tensor): (B, K, h, w) features after the dropout (used by
                heads that score them otherwise, :class:`CONTASEAMHead`).
            cam (Tensor): (B, C + 1, H, W) the view's CAM logits at its
                input size.
        """
        return cam[:, 1:].mean(dim=(2, 3))

    # ------------------------------------------------------------------ #
    # the loss terms (static: tests/test_seam.py checks each by hand)
    # ------------------------------------------------------------------ #
    @staticmethod
    def max_norm(p: Tensor, eps: float = 1e-5) -> Tensor:
        """SEAM's ``visualization.max_norm`` (4-d torch branch):
        ``relu(p' - min - eps) / (max - min + eps)``, ``p' = relu(p)``,
        min / max over each (image, channel) map."""
        p = F.relu(p)
        flat = p.flatten(2)
        hi = flat.max(dim=-1)[0][..., None, None]
        lo = flat.min(dim=-1)[0][..., None, None]
        return F.relu(p - lo - eps) / (hi - lo + eps)

    @staticmethod
    def min_pool_loss(x: Tensor, ratio: float = 0.25) -> Tensor:
        """``adaptive_min_pooling_loss`` (``train_SEAM.py`` lines 16-24):
        per image the ``k = h w * ratio`` smallest per-pixel channel maxima,
        ``sum relu(.) / (k B)``.

        Args:
            x (Tensor): (B, C, h, w).
        """
        B, _, h, w = x.shape
        k = max(int(h * w * ratio), 1)
        peak = x.max(dim=1)[0].reshape(B, -1)
        low = torch.topk(peak, k=k, dim=-1, largest=False)[0]
        return F.relu(low).sum() / (k * B)

    @staticmethod
    def fill_background(x: Tensor) -> Tensor:
        """A copy of ``x`` (B, C + 1, h, w) with the background channel set
        to ``1 - max`` of the foreground channels (lines 131-132)."""
        x = x.clone()
        x[:, 0] = 1 - x[:, 1:].max(dim=1)[0]
        return x

    @staticmethod
    def max_onehot(x: Tensor) -> Tensor:
        """A copy of ``x`` (B, C + 1, h, w) with every foreground value that
        is not its pixel's foreground max set to 0 (``max_onehot``, lines
        26-30); the background channel kept."""
        x = x.clone()
        fg = x[:, 1:]
        fg[fg != fg.max(dim=1, keepdim=True)[0]] = 0
        return x

    @staticmethod
    def ecr_loss(target: Tensor, cam_rv: Tensor,
                 ratio: float = 0.2) -> Tensor:
        """``mean(topk(|target - cam_rv|))``, the top ``int(N h w * ratio)``
        entries of each image (lines 135-138).

        Args:
            target (Tensor): (B, N, h, w), no gradient.
            cam_rv (Tensor): (B, N, h, w).
        """
        B = cam_rv.shape[0]
        diff = (target - cam_rv).abs().reshape(B, -1)
        k = max(int(diff.shape[1] * ratio), 1)
        return torch.topk(diff, k=k, dim=-1)[0].mean()

    # ------------------------------------------------------------------ #
    # loss
    # ------------------------------------------------------------------ #
    def loss(self,
             feats: Sequence[Tensor],
             data_samples: List[DataSample],
             img: Optional[Tensor] = None,
             small_feats: Optional[Sequence[Tensor]] = None,
             small_img: Optional[Tensor] = None,
             **kwargs) -> dict:
        """SEAM's losses of the two views.

        Args:
            feats (Sequence[Tensor]): Backbone outputs of the image.
            data_samples (list[DataSample]): With ``gt_score`` or
                ``gt_label``.
            img (Tensor): (B, 3, H, W) the normalised image.
            small_feats (Sequence[Tensor]): Backbone outputs of the
                downscaled image.
            small_img (Tensor): (B, 3, H', W') the downscaled image.
            **kwargs: Passed to the classification loss module.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_rvmin``, ``loss_er``,
            ``loss_ecr`` (each times its weight).
        """
        if img is None or small_feats is None or small_img is None:
            raise ValueError(
                'SEAMHead.loss needs both views: img, small_feats and '
                'small_img (SEAMClassifier passes them)')
        return self.loss_two_views(feats, img, small_feats, small_img,
                                   self.targets(data_samples), **kwargs)

    def loss_two_views(self, feats: Sequence[Tensor], img: Tensor,
                       small_feats: Sequence[Tensor], small_img: Tensor,
                       target: Tensor, **kwargs) -> dict:
        """:meth:`loss` on (B, C) multi-hot ``target``."""
        target = target.to(img.dtype)
        label = torch.cat([target.new_ones(target.shape[0], 1), target],
                          dim=1)[:, :, None, None]  # (B, C + 1, 1, 1)
        size2 = tuple(small_img.shape[-2:])

        def up(x: Tensor, size) -> Tensor:
            return F.interpolate(x, size, mode='bilinear', align_corners=True)

        losses_cls, losses_min, norm_cams, norm_rvs = [], [], [], []
        for fs, x in ((feats, img), (small_feats, small_img)):
            cam, cam_rv, f = self.view(fs, x)
            size = tuple(x.shape[-2:])
            cam, cam_rv = up(cam, size), up(cam_rv, size)
            scores = self.class_scores(f, cam)
            losses_cls.append(self.loss_module(scores, target, **kwargs))
            losses_min.append(
                self.min_pool_loss((cam_rv * label)[:, 1:],
                                   self.min_pool_ratio))
            # both views at the small view's size (line 116-117, 122-123)
            norm_cams.append(up(self.max_norm(cam), size2) * label)
            norm_rvs.append(up(self.max_norm(cam_rv), size2) * label)
        c1, c2 = norm_cams
        r1, r2 = norm_rvs
        loss_er = (c1[:, 1:] - c2[:, 1:]).abs().mean()
        t1 = self.max_onehot(self.fill_background(c1.detach()))
        t2 = self.max_onehot(self.fill_background(c2.detach()))
        loss_ecr = (self.ecr_loss(t2, r1, self.ecr_ratio) +
                    self.ecr_loss(t1, r2, self.ecr_ratio))
        terms = dict(
            loss_cls=sum(losses_cls) / 2,
            loss_rvmin=sum(losses_min) / 2,
            loss_er=loss_er,
            loss_ecr=loss_ecr)
        return {k: v * self.loss_weights[k] for k, v in terms.items()}

    def loss_by_target(self, feats: Union[Tuple[Tensor], Tensor],
                       target: Tensor, **kwargs) -> dict:
        raise NotImplementedError(
            'SEAMHead trains on two views: loss(feats, data_samples, img=, '
            'small_feats=, small_img=) (SEAMClassifier)')
