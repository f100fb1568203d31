"""ReCAM head: Class Re-Activation Maps (Chen et al., CVPR 2022).

ReCAM fine-tunes a trained CAM classifier with an extra softmax
cross-entropy loss on **CAM-weighted features**, next to the multi-label
loss, and takes the CAMs of the re-activated model. For an image with
features ``f`` (B, D, h, w), the CAM classifier's weights ``W`` (C, D) and
present classes ``P_b``:

- ``cam = relu(W f)`` (B, C, h, w), each map divided by (its max + 1e-5)
  (every class, present or not; the gradient flows through the CAM and its
  max, as in the reference's ``Net_CAM_Feature``);
- ``v_{b,c} = mean_hw(cam_{b,c} * f_b)`` (B, C, D): the features of class
  ``c`` seen through its CAM;
- a second 1x1 classifier ``W_s`` (C, D) scores each ``v_{b,c}``, ``c`` in
  ``P_b``, over all C classes, and the softmax cross-entropy asks it to name
  ``c``: ``L_ce = (1/B) sum_b mean_{c in P_b} CE(W_s v_{b,c}, c)`` (an image
  without a class adds 0 but still counts in ``B``);
- the loss is ``L_bce(z) + lambda * L_ce`` with ``z = W GAP(f)`` the plain
  logits (multi-label soft margin) and ``lambda = 1``.

CAMs at inference (the reference's ``make_recam.py``): ``relu((W_s * W) f)``,
the 1x1 convolution with the element-wise product of the two classifiers'
weights (``cam_weight='product'``); ``'cls'`` gives the plain classifier's
CAMs of the fine-tuned model, ``'recam'`` those of ``W_s`` alone.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmc2am.registry import MODELS

from .causal_cam_head import CausalCAMHead

CAM_WEIGHTS = ('product', 'cls', 'recam')


@MODELS.register_module()
class ReCAMHead(CausalCAMHead):
    """:class:`CausalCAMHead` plus ReCAM's softmax cross-entropy branch.

    Args:
        num_classes (int): Number of (foreground) classes ``C``.
        in_channels (int): Channels ``D`` of the last backbone feature map.
        recam_loss (dict, optional): Softmax cross-entropy of the
            re-activation branch; its ``loss_weight`` is ReCAM's
            ``recam_loss_weight``. None means
            ``dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0)`` (the
            reference's weight).
        cam_weight (str): Weights of the CAMs :meth:`cam` returns:
            ``'product'`` (``W_s * W``, the reference's ReCAM), ``'cls'``
            (``W``) or ``'recam'`` (``W_s``). Defaults to ``'product'``.
        norm_eps (float): The ``eps`` of each CAM's max-normalisation
            ``cam / (max + eps)`` before weighting the features. Defaults to
            1e-5 (the reference).
        **kwargs: :class:`CausalCAMHead` arguments (``adjustment``,
            ``loss`` of the multi-label part, ``thr``, ``topk``, ...).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 recam_loss: Optional[dict] = None,
                 cam_weight: str = 'product',
                 norm_eps: float = 1e-5,
                 **kwargs):
        super().__init__(num_classes, in_channels, **kwargs)
        self.check_choice('cam_weight', cam_weight, CAM_WEIGHTS)
        if recam_loss is None:
            recam_loss = dict(
                type='mmpretrain.CrossEntropyLoss', loss_weight=1.0)
        self.cam_weight = cam_weight
        self.norm_eps = norm_eps
        # The reference's Class_Predictor: a 1x1 conv without bias, with
        # PyTorch's default init (never re-initialised there either).
        self.recam_conv = nn.Conv2d(in_channels, num_classes, 1, bias=False)
        self.recam_loss_module = MODELS.build(recam_loss)

    # ------------------------------------------------------------------ #
    # CAMs
    # ------------------------------------------------------------------ #
    def cam(self, feats: Union[Tuple[Tensor], Tensor]) -> Tensor:
        """CAMs ``relu(conv1x1(f))`` with the weights ``cam_weight`` names,
        (B, C, h, w)."""
        if self.cam_weight == 'cls':
            return super().cam(feats)
        x = self.pre_logits(feats)
        if self.cam_weight == 'recam':
            return F.relu(self.recam_conv(x))
        return F.relu(F.conv2d(x, self.recam_conv.weight * self.conv.weight))

    def cam_weighted_features(self, feats: Union[Tuple[Tensor],
                                                 Tensor]) -> Tensor:
        """``v = mean_hw(norm(relu(W f))_c * f)``, (B, C, D).

        Args:
            feats (tuple[Tensor] | Tensor): Backbone features; the last map
                (B, D, h, w) is used.

        Returns:
            Tensor: (B, C, D) CAM-weighted mean features of every class.
        """
        x = self.pre_logits(feats)
        cam = F.relu(self.conv(x))
        cam = cam / (cam.amax(dim=(2, 3), keepdim=True) + self.norm_eps)
        # einsum instead of the reference's (B, C, D, h, w) product: the same
        # sum without the C-fold copy of the features (2.7 GB at batch 16).
        return torch.einsum('bchw,bdhw->bcd', cam, x) / (x.shape[2] *
                                                          x.shape[3])

    # ------------------------------------------------------------------ #
    # loss
    # ------------------------------------------------------------------ #
    def recam_loss(self, feats: Union[Tuple[Tensor], Tensor],
                   target: Tensor) -> Tuple[Tensor, Tensor]:
        """ReCAM's cross-entropy ``(1/B) sum_b mean_{c in P_b} CE(W_s v, c)``.

        Args:
            feats (tuple[Tensor] | Tensor): Backbone features.
            target (Tensor): (B, C) multi-hot labels (> 0 means present).

        Returns:
            tuple[Tensor, Tensor]: The weighted loss (scalar) and the
            accuracy of ``W_s`` on the present classes (scalar, no grad; 0
            when no image has a class).
        """
        v = self.cam_weighted_features(feats)  # (B, C, D)
        B = v.shape[0]
        img_idx, cls_idx = torch.nonzero(target > 0, as_tuple=True)
        if img_idx.numel() == 0:
            zero = v.sum() * 0  # keeps the graph (DDP needs every param used)
            return zero, zero.detach()
        logits = F.linear(v[img_idx, cls_idx], self.recam_conv.weight.flatten(1))
        # Per-image mean over its classes, then 1/B over all images: each
        # class of image b weighs 1 / n_b, the sum is divided by B.
        per_img = torch.bincount(img_idx, minlength=B).to(logits.dtype)
        weight = 1.0 / per_img[img_idx]
        loss = self.recam_loss_module(
            logits, cls_idx, weight=weight, avg_factor=B)
        acc = (logits.argmax(dim=1) == cls_idx).float().mean().detach()
        return loss, acc

    def loss_by_target(self, feats: Union[Tuple[Tensor], Tensor],
                       target: Tensor, **kwargs) -> dict:
        """Multi-label loss of the (adjusted) scores plus ReCAM's loss.

        Args:
            feats (tuple[Tensor] | Tensor): Backbone features; the last one
                is used.
            target (Tensor): (B, C) multi-hot image labels.
            **kwargs: Passed to the multi-label loss module.

        Returns:
            dict[str, Tensor]: ``loss_cls`` (multi-label), ``loss_recam``
            (weighted cross-entropy) and ``recam_acc`` (logged, not summed).
        """
        loss_cls = super().loss_by_target(feats, target, **kwargs)['loss']
        loss_recam, acc = self.recam_loss(feats, target.to(loss_cls.device))
        return dict(loss_cls=loss_cls, loss_recam=loss_recam, recam_acc=acc)

    def extra_repr(self) -> str:
        return super().extra_repr() + f', cam_weight={self.cam_weight!r}'
