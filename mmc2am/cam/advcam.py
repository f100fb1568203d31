"""AdvCAM: anti-adversarial climbing of the image (Lee et al., CVPR 2021).

AdvCAM runs at inference on any trained CAM classifier. For each class ``c``
of an image and each scale, the image ``x^0`` (with its horizontal flip as a
second, independent image) climbs towards ``c`` for ``T`` steps and the CAMs
of the steps are summed. One step, as the public code runs it
(``obtain_CAM_masking.py`` with its ``GradCAM``):

- ``y = mean_hw(cam(x^t))`` (C,) per view, ``cam = relu(conv1x1(f))``;
- ``A^t``: the Grad-CAM of ``c`` on the backbone output ``f``: with
  ``g = d sum_views sum_hw cam_c / d f``, per view
  ``A_v = relu(sum_d f_d * sum_hw(g_d) / N)``, ``N`` the number of
  positive entries of ``g`` over both views (``gap2d_pos``); for IRN's
  linear head ``A_v = cam_c(x_v) * P_v / (n_+ (P_0 + P_1))`` (``P_v``
  positive pixels of ``cam_c`` in view v, ``n_+`` positive weights of
  class c); the flip's map is flipped back and added, ``A^t`` (h, w);
- restricting mask ``M^t = [A^t / max(A^t) > score_th]`` (of the current
  step's map, not accumulated);
- ``L = sum_views (y_c - sum_{k != c} y_k) - ad_coeff * sum_hw(M^t |A^t - A^0|)``
  (all other classes, present in the image or not);
- ``x^{t+1} = clamp(x^t + ad_stepsize * grad_x L / (max|grad_x L| + 1e-12),
  min(x^t), max(x^t))`` (max and min over both views and all channels);
- the class's map at this scale is ``sum_{t=0}^{T-1} A^t``.

This module holds the climbing itself (:func:`advcam_step`,
:func:`advcam_climb`); the CAM generator
:class:`mmc2am.models.cam_generators.AdvCAM` (``model.test_cfg.cam_generator
= dict(type='AdvCAM', ...)``) runs it over scales and images, with the
published hyper-parameters, and fills the data samples as plain CAMs do.

The classes of an image climb independently (each from ``x^0``), so they
run as one batch of ``K`` (x2 views) images per scale: with every
BatchNorm in eval mode (the ``AdvCAM`` generator switches the model to
eval) the samples of a batch do not interact, and the sum of the per-class
losses has the per-class gradients. The last step's update is skipped (its
image would never be used).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _feats_and_cams(model: nn.Module, x: Tensor,
                    grad_to_input: bool) -> Tuple[Tensor, Tensor]:
    """Backbone output (N, D, h, w) and CAMs (N, C, h, w) of a batch.

    Without ``grad_to_input`` the backbone runs without a graph and only the
    head's is kept (what the Grad-CAM of the last step needs).
    """
    if grad_to_input:
        feats = model.extract_feat(x)
    else:
        with torch.no_grad():
            feats = model.extract_feat(x)
    if not isinstance(feats, (tuple, list)):
        feats = (feats, )
    feat = feats[-1]
    if not grad_to_input:
        feat = feat.detach().requires_grad_(True)
        feats = (*feats[:-1], feat)
    return feat, model.head.cam(tuple(feats))


def advcam_step(model: nn.Module,
                x: Tensor,
                targets: Tensor,
                init_regions: Optional[Tensor] = None,
                ad_coeff: float = 7.0,
                ad_stepsize: float = 0.08,
                score_th: float = 0.5,
                flip: bool = True,
                update: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
    """One adversarial-climbing step of ``K`` classes at once.

    Args:
        model (nn.Module): Has ``extract_feat(x)`` and ``head.cam(feats)``
            (a :class:`~mmc2am.models.CAMClassifier`), in eval mode.
        x (Tensor): (V*K, 3, h, w) images, ``V = 2`` with ``flip`` (rows
            ``0..K-1`` the images, ``K..2K-1`` their flips, each climbing on
            its own) else 1.
        targets (Tensor): (K,) long, the class each image climbs towards.
        init_regions (Tensor, optional): (K, h', w') the Grad-CAMs of step
            0 (``A^0``); None at step 0 (then ``A^0 = A^t``).
        ad_coeff (float): Weight of the restricting term.
        ad_stepsize (float): Step size of the normalised gradient.
        score_th (float): Threshold of the restricting mask on
            ``A^t / max(A^t)``.
        flip (bool): Whether ``x`` holds the flips (``V = 2``).
        update (bool): Compute the next images; False returns None for them
            (one forward and the head's backward only).

    Returns:
        tuple[Tensor, Tensor | None]: ``A^t`` (K, h', w') detached (the
        flip's map flipped back and added), and ``x^{t+1}`` (V*K, 3, h, w)
        detached, or None.
    """
    V = 2 if flip else 1
    K = targets.numel()
    if x.shape[0] != V * K:
        raise ValueError(f'{x.shape[0]} images for {K} classes x {V} views')
    x = x.detach().requires_grad_(update)
    feat, cams = _feats_and_cams(model, x, grad_to_input=update)
    rows = torch.arange(V * K, device=x.device)
    tgt = targets.to(x.device).repeat(V)
    # Grad-CAM of the target class on the backbone output, weights
    # sum_hw(grad) / (number of positive grad entries of the class's views).
    grads, = torch.autograd.grad(
        cams[rows, tgt].sum(), feat, retain_graph=update)
    positives = (grads > 0).reshape(V, K, -1).sum(dim=(0, 2)).repeat(V)
    weights = grads.sum(dim=(2, 3)) / (positives[:, None] + 1e-12)
    regions = F.relu(torch.einsum('bdhw,bd->bhw', feat, weights.detach()))
    regions = regions.view(V, K, *regions.shape[1:])
    regions = regions[0] + regions[1].flip(-1) if flip else regions[0]
    if not update:
        return regions.detach(), None

    if init_regions is None:
        init_regions = regions.detach()
    logits = cams.mean(dim=(2, 3))  # (V*K, C): GAP of the ReLU'd CAMs
    climb = (2 * logits[rows, tgt] - logits.sum(dim=1)).sum()
    peak = regions.detach().flatten(1).amax(dim=1)
    # A^t / max(A^t) > th; an all-zero map (0/0 in the reference) masks
    # nothing, as NaN > th is False there.
    mask = (regions.detach() / peak.clamp_min(1e-30)[:, None, None]
            > score_th).to(regions.dtype)
    restrict = ((regions - init_regions).abs() * mask).sum()
    grad, = torch.autograd.grad(climb - ad_coeff * restrict, x)

    def per_view(v: Tensor) -> Tensor:  # (K,) -> (V*K, 1, 1, 1)
        return v.repeat(V)[:, None, None, None]

    gmax = grad.abs().reshape(V, K, -1).amax(dim=2).amax(dim=0)
    x_next = x.detach() + ad_stepsize * grad / (per_view(gmax) + 1e-12)
    flat = x.detach().reshape(V, K, -1)
    lo = flat.amin(dim=2).amin(dim=0)
    hi = flat.amax(dim=2).amax(dim=0)
    x_next = torch.minimum(torch.maximum(x_next, per_view(lo)), per_view(hi))
    return regions.detach(), x_next


def advcam_climb(model: nn.Module,
                 img: Tensor,
                 targets: Tensor,
                 num_iter: int = 27,
                 ad_coeff: float = 7.0,
                 ad_stepsize: float = 0.08,
                 score_th: float = 0.5,
                 flip: bool = True) -> Tensor:
    """``sum_{t<T} A^t`` of ``K`` classes climbing from one image, or each
    from its own image.

    Args:
        model (nn.Module): See :func:`advcam_step`.
        img (Tensor): (1, 3, h, w) normalised image (one scale), or
            (K, 3, h, w): row k climbs towards ``targets[k]`` from its own
            image (rows of several images in one batch).
        targets (Tensor): (K,) long, the classes.
        num_iter (int): Number of steps ``T`` (>= 1).
        ad_coeff, ad_stepsize, score_th, flip: See :func:`advcam_step`.

    Returns:
        Tensor: (K, h', w') accumulated Grad-CAMs at the feature resolution.
    """
    if num_iter < 1:
        raise ValueError(f'num_iter must be >= 1, got {num_iter}')
    K = targets.numel()
    if img.shape[0] not in (1, K):
        raise ValueError(f'{img.shape[0]} images for {K} classes: give one '
                         f'image or one per class')
    views = [img, img.flip(-1)] if flip else [img]
    x = torch.cat([v.expand(K, -1, -1, -1) for v in views])
    total, init = 0, None
    for t in range(num_iter):
        regions, x = advcam_step(
            model, x, targets, init, ad_coeff, ad_stepsize, score_th, flip,
            update=t < num_iter - 1)
        if init is None:
            init = regions
        total = total + regions
    return total


__all__ = ['advcam_climb', 'advcam_step']
