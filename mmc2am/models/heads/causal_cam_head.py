"""CAM head with the causal front-door adjustment of C2AM.

The head is IRN's CAM classifier (global average pooling, then a 1x1 conv
without bias to ``C`` classes) with a switch on how the class score that
enters the loss is formed:

- ``adjustment=None``: plain CAM. The score is the logit
  ``z = conv1x1(GAP(f))``; the loss is the multilabel soft-margin loss (equal
  to sigmoid BCE-with-logits averaged over batch and classes).
- ``'front_door'``: C2AM as the reference computes it,
  ``s = mean_hw(z[:, :, None, None] * G)``, then BCE-with-logits. Mean pooling
  is linear, so ``s_c = z_c * mean_hw(G_c)``: a fixed per-class scale of the
  logits. It is computed in that form (a (C,) vector times (B, C)), which
  costs nothing next to the backbone, instead of building the (B, C, S, S)
  product.
- ``'front_door_spatial'``: the spatial use of ``G``: the per-pixel logit
  map ``m = conv1x1(f)`` (before ReLU) pooled with the weights ``G_c``
  resized to the feature size, ``s_c = sum_hw(m_c * G_c) / sum_hw(G_c)``.
  With a constant ``G`` this is exactly the plain logit.
- ``'front_door_context'``: the front-door formula at feature level, with the
  image's own CAM region as the mediator and its context marginalised over
  the other images of the batch (issue 17); see :meth:`context_scores`. It
  needs the image labels (given to the loss) and no global CAM.

``G`` (the global CAM, ``C x S x S``) is a registered buffer, so it is saved
in and restored from checkpoints, together with the buffer flag
``global_cam_set`` that tells :class:`~mmc2am.engine.GlobalCAMHook` whether
it still has to be computed. ``'front_door_context'`` does not read it (its
config has no GlobalCAMHook).

``'front_door_context'`` in full. With the features ``f`` (B, K, h, w), the
1x1 conv weights ``W`` (C, K), ``P = h * w`` pixels ``p`` and the
multi-hot labels ``y`` (B, C):

- CAMs ``a_ic = relu(m_ic) / (max_p relu(m_ic) + 1e-5)`` with
  ``m = conv1x1(f)`` (B, C, h, w), **detached**: the maps select pixels, the
  gradient flows through ``f`` and ``W`` only;
- mediator ``z`` (the class region of image ``i``):
  ``g_ic = (1/P) sum_p a_icp f_ip`` (K,) and its area
  ``alpha_ic = (1/P) sum_p a_icp``;
- context of image ``j`` (pixels no labelled class claims):
  ``u_jp = 1 - max_{c: y_jc > 0} a_jcp`` (1 everywhere for an image without
  a label), ``xbar_j = sum_p u_jp f_jp / (sum_p u_jp + 1e-5)`` (K,);
- ``sum_x' P(Y|z, x') P(x')`` with ``x'`` uniform over the batch:
  ``xbar = (1/B) sum_j xbar_j`` (``j`` over all images, ``i`` included);
- ``s_ic = W_c . (g_ic + (1 - alpha_ic) * xbar)``: the class region of
  image ``i`` pasted into the average context, the rest of the image
  (``1 - alpha_ic`` of its area) filled with ``xbar``.

Identities: with ``a_ic`` all ones (``alpha_ic = 1``) ``s_ic = W_c . GAP(f_i)``,
the plain logit, whatever the context. With the image's own context
``xbar_i`` in place of ``xbar`` (batch size 1 gives exactly that) and ``c``
the image's single labelled class (so ``u_i = 1 - a_ic``, soft or binary),
``(1 - alpha_ic) xbar_i = (1/P) sum_p (1 - a_icp) f_ip`` up to the ``1e-5``,
hence ``g_ic + (1 - alpha_ic) xbar_i = GAP(f_i)``: the plain logit again.
For several labelled classes, or an unlabelled ``c``, ``u_i`` is the
complement of the labelled union, not of ``a_ic``, and the own-context
score departs from the plain logit by that difference. So, apart from it,
the adjustment acts through the other images' contexts.

Computed on the logit map: ``W_c . g_ic = mean_p(a_icp m_icp)`` and
``W_c . xbar_j = sum_p u_jp m_jcp / (sum_p u_jp + 1e-5)``, O(B C h w), no
(B, C, K) tensor. The "batch" is each process's batch under DDP.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmc2am.registry import MODELS

from .base_cam_head import BaseCAMHead

ADJUSTMENTS = (None, 'front_door', 'front_door_spatial', 'front_door_context')
# the adjustments that read the global CAM buffer (need GlobalCAMHook)
GLOBAL_CAM_ADJUSTMENTS = ('front_door', 'front_door_spatial')
# 1e-5 of the CAM normalisation and of the context's weighted mean
CONTEXT_EPS = 1e-5


@MODELS.register_module()
class CausalCAMHead(BaseCAMHead):
    """GAP + 1x1 conv multi-label head with an optional front-door adjustment.

    Args:
        num_classes (int): Number of (foreground) classes ``C``.
        in_channels (int): Channels of the last backbone feature map.
        adjustment (str, optional): ``None`` (plain CAM), ``'front_door'``
            (C2AM, per-class scale), ``'front_door_spatial'`` (logit map
            pooled with the global CAM as weights) or
            ``'front_door_context'`` (class region of the image with the
            batch's mean context, no global CAM). Defaults to None.
        global_cam_size (int): Side ``S`` of the global CAM buffer.
            Defaults to 128 (the reference).
        predict_adjusted (bool): If True and the global CAM is set, the
            predicted scores are ``sigmoid`` of the adjusted scores (what the
            loss trains); if False (default) of the plain logits, the
            classifier's ``P(Z|X)``. For ``'front_door'`` each class's average
            precision is the same either way (a positive per-class scale keeps
            the ranking), except for a class whose global CAM is all zeros
            (no image of it ever activated): its adjusted score is constant.
            Not available with ``'front_door_context'``, whose score needs
            the image labels. Defaults to False.
        score_scale (float): Factor of the adjusted scores of
            ``'front_door'`` / ``'front_door_spatial'`` before the loss: the
            ``r`` of C2AM's ``mean_agg(cam, r) = mean(cam * r)``
            (``agg_smooth_r``, 2 at its commit 7cb39df; ``gamma``, 1 at its
            HEAD). Defaults to 1.
        **kwargs: :class:`BaseCAMHead` arguments: ``loss`` (None: the
            multi-label soft-margin loss), ``thr``, ``topk``, ``init_cfg``
            (None: IRN's init of ``conv``, PyTorch's default).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 adjustment: Optional[str] = None,
                 global_cam_size: int = 128,
                 predict_adjusted: bool = False,
                 score_scale: float = 1.0,
                 **kwargs):
        self.check_choice('adjustment', adjustment, ADJUSTMENTS)
        if global_cam_size <= 0:
            raise ValueError('global_cam_size must be > 0')
        if adjustment == 'front_door_context' and predict_adjusted:
            raise ValueError(
                "predict_adjusted=True is not available with "
                "adjustment='front_door_context': its score needs the image "
                'labels, which a prediction does not have')
        if score_scale != 1 and adjustment not in GLOBAL_CAM_ADJUSTMENTS:
            raise ValueError(f'score_scale={score_scale} scales the '
                             f'global-CAM adjustments {GLOBAL_CAM_ADJUSTMENTS}'
                             f', not adjustment={adjustment!r}')
        super().__init__(num_classes, in_channels, **kwargs)
        self.adjustment = adjustment
        self.score_scale = float(score_scale)
        self.global_cam_size = global_cam_size
        self.predict_adjusted = predict_adjusted
        # Buffers, not parameters: saved in checkpoints, never trained.
        self.register_buffer(
            'global_cam',
            torch.zeros(num_classes, global_cam_size, global_cam_size))
        self.register_flag('global_cam_set')

    # ------------------------------------------------------------------ #
    # global CAM
    # ------------------------------------------------------------------ #
    @property
    def has_global_cam(self) -> bool:
        """Whether :meth:`set_global_cam` has filled the buffer."""
        return self.flag_is_set('global_cam_set')

    @torch.no_grad()
    def set_global_cam(self, global_cam: Union[Tensor, np.ndarray]) -> None:
        """Copy a (C, H, W) global CAM into the buffer and mark it as set.

        Maps of another size are resized bilinearly to ``S x S`` (aspect ratio
        ignored, as the reference does for each image's CAM).

        Args:
            global_cam (Tensor | np.ndarray): (C, H, W) non-negative maps.
        """
        g = self.checked_tensor(global_cam, 'global CAM',
                                (self.num_classes, 'H', 'W'))
        S = self.global_cam_size
        if g.shape[1:] != (S, S):
            g = F.interpolate(
                g[None], size=(S, S), mode='bilinear',
                align_corners=False)[0]
        self.fill_buffers('global_cam_set', global_cam=g)

    # ------------------------------------------------------------------ #
    # scores (pre_logits, forward, cam, loss, predict: BaseCAMHead)
    # ------------------------------------------------------------------ #
    def adjusted_scores(self,
                        feats: Union[Tuple[Tensor], Tensor],
                        target: Optional[Tensor] = None) -> Tensor:
        """The (B, C) class scores the loss is computed on, formed by the
        adjustment from the backbone features ``feats``; ``target``, the
        (B, C) image labels (> 0 means present), is needed by
        ``'front_door_context'`` only.

        Raises:
            RuntimeError: ``'front_door'`` or ``'front_door_spatial'`` and no
                global CAM set.
            ValueError: ``'front_door_context'`` without ``target``.
        """
        if self.adjustment is None:
            return super().adjusted_scores(feats, target)
        if self.adjustment == 'front_door_context':
            if target is None:
                raise ValueError(
                    "adjustment='front_door_context' needs the image labels "
                    '(target)')
            logit_map = self.conv(self.pre_logits(feats))  # (B, C, h, w)
            cams = self.normalised_cams(logit_map)
            return self.context_scores(logit_map, cams, target)
        if not self.has_global_cam:
            raise RuntimeError(
                f'CausalCAMHead(adjustment={self.adjustment!r}) needs the '
                'global CAM: add GlobalCAMHook to custom_hooks, load a '
                'checkpoint that holds it, or call head.set_global_cam().')
        if self.adjustment == 'front_door':
            # mean_hw(z_c * G_c) == z_c * mean_hw(G_c) (mean is linear).
            return self(feats) * (self.global_cam.mean(dim=(1, 2)) *
                                  self.score_scale)
        # front_door_spatial
        x = self.pre_logits(feats)
        logit_map = self.conv(x)  # (B, C, h, w), before ReLU
        weights = self.spatial_weights(logit_map.shape[-2:])
        return torch.einsum('bchw,chw->bc', logit_map,
                            weights) * self.score_scale

    @staticmethod
    def normalised_cams(logit_map: Tensor) -> Tensor:
        """``relu(m) / (max_hw relu(m) + 1e-5)``, detached, (B, C, h, w)."""
        cams = F.relu(logit_map.detach())
        return cams / (cams.amax(dim=(2, 3), keepdim=True) + CONTEXT_EPS)

    @staticmethod
    def context_scores(logit_map: Tensor, cams: Tensor,
                       target: Tensor) -> Tensor:
        """``s_ic = W_c . (g_ic + (1 - alpha_ic) * xbar)`` (module docstring).

        Args:
            logit_map (Tensor): ``m = conv1x1(f)`` (B, C, h, w), before ReLU.
            cams (Tensor): Normalised CAMs ``a`` (B, C, h, w) in [0, 1]; they
                enter as constants (pass them detached, as
                :meth:`normalised_cams` does, to keep their gradient out).
            target (Tensor): (B, C) image labels, > 0 means present.

        Returns:
            Tensor: (B, C) scores.
        """
        P = logit_map.shape[-2] * logit_map.shape[-1]
        # W_c . g_ic = (1/P) sum_p a_icp (W_c . f_ip) = mean_p a_icp m_icp
        region = torch.einsum('bchw,bchw->bc', cams, logit_map) / P
        alpha = cams.mean(dim=(2, 3))  # (B, C)
        present = (target > 0).to(cams)[:, :, None, None]
        # a >= 0, so the max over the labelled classes is the max of the
        # masked maps; 0 (context = whole image) for an image without label
        u = 1 - (cams * present).amax(dim=1)  # (B, h, w)
        # W_c . xbar_j = sum_p u_jp m_jcp / (sum_p u_jp + eps), then mean_j
        ctx = torch.einsum('bhw,bchw->bc', u, logit_map) / (
            u.sum(dim=(1, 2))[:, None] + CONTEXT_EPS)
        return region + (1 - alpha) * ctx.mean(dim=0, keepdim=True)

    def spatial_weights(self, size: Sequence[int]) -> Tensor:
        """``G_c`` resized to ``size`` and divided by its sum, (C, h, w).

        A class whose resized map sums to zero (no training image held it)
        gets uniform weights, i.e. its plain GAP logit, instead of 0/0.
        """
        g = F.interpolate(
            self.global_cam[None], size=tuple(size), mode='bilinear',
            align_corners=False)[0]
        total = g.sum(dim=(1, 2), keepdim=True)
        uniform = torch.full_like(g, 1.0 / (g.shape[-1] * g.shape[-2]))
        return torch.where(total > 1e-12, g / total.clamp_min(1e-12), uniform)

    def predict_scores(self, feats: Union[Tuple[Tensor], Tensor]) -> Tensor:
        """The adjusted scores with ``predict_adjusted`` and a set global CAM,
        else the plain logits."""
        if (self.adjustment in GLOBAL_CAM_ADJUSTMENTS
                and self.predict_adjusted and self.has_global_cam):
            return self.adjusted_scores(feats)
        return self(feats)

    def extra_repr(self) -> str:
        return (f'adjustment={self.adjustment!r}, '
                f'global_cam_size={self.global_cam_size}, '
                f'score_scale={self.score_scale}')
