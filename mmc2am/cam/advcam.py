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

The maps of all scales are then resized and summed as for plain CAMs
(stride 4 and full resolution) and each class divided by (its max + 1e-5),
so :func:`predict_advcams` fills the same data-sample fields as
:func:`mmc2am.cam.predict_cams` (and ``CAMFileHook`` writes the same CAM
files from them).

Published hyper-parameters: ``adv_iter=27``, ``ad_coeff=7``,
``ad_stepsize=0.08``, ``score_th=0.5``, IRN's scales (1.0, 0.5, 1.5, 2.0)
with flips; the 0.5 scale runs ``adv_iter // 2 = 13`` steps
(``scale_iters=(27, 13, 27, 27)``). The code meant to weigh that scale's
map x2 to make up for the fewer steps, but sets the factor only once and
multiplies every scale by it, which max-normalisation cancels; the default
``scale_weights=None`` (all 1) is what ran, ``(1, 2, 1, 1)`` what was meant.

The classes of an image climb independently (each from ``x^0``), so they
run as one batch of ``K`` (x2 views) images per scale: with every
BatchNorm in eval mode (the function switches the model to eval) the
samples of a batch do not interact, and the sum of the per-class losses
has the per-class gradients. The last step's update is skipped (its image
would never be used).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cam_inference import sample_keys
from .multi_scale import cam_sizes, normalize_cams, resize_image


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
    """``sum_{t<T} A^t`` of ``K`` classes climbing from one image.

    Args:
        model (nn.Module): See :func:`advcam_step`.
        img (Tensor): (1, 3, h, w) normalised image (one scale).
        targets (Tensor): (K,) long, the classes.
        num_iter (int): Number of steps ``T`` (>= 1).
        ad_coeff, ad_stepsize, score_th, flip: See :func:`advcam_step`.

    Returns:
        Tensor: (K, h', w') accumulated Grad-CAMs at the feature resolution.
    """
    if num_iter < 1:
        raise ValueError(f'num_iter must be >= 1, got {num_iter}')
    K = targets.numel()
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


def advcam_multi_scale(model: nn.Module,
                       img: Tensor,
                       keys: Tensor,
                       scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
                       flip: bool = True,
                       adv_iter: int = 27,
                       ad_coeff: float = 7.0,
                       ad_stepsize: float = 0.08,
                       score_th: float = 0.5,
                       scale_iters: Optional[Sequence[int]] = None,
                       scale_weights: Optional[Sequence[float]] = None,
                       class_chunk: Optional[int] = None
                       ) -> Tuple[Tensor, Tensor]:
    """AdvCAMs of one image's classes, summed over scales (not normalised).

    Args:
        model (nn.Module): See :func:`advcam_step`.
        img (Tensor): (1, 3, H, W) normalised image.
        keys (Tensor): (K,) long, the classes.
        scales (Sequence[float]): Image scales.
        flip (bool): Climb each scale's horizontal flip too.
        adv_iter (int): Steps per scale (without ``scale_iters``).
        ad_coeff, ad_stepsize, score_th: See :func:`advcam_step`.
        scale_iters (Sequence[int], optional): Steps of each scale (one per
            scale), e.g. ``(27, 13, 27, 27)`` as the reference runs.
        scale_weights (Sequence[float], optional): Weight of each scale's
            map in the sum. Defaults to 1 each.
        class_chunk (int, optional): Climb at most this many classes in one
            batch (memory). Defaults to all at once.

    Returns:
        tuple[Tensor, Tensor]: (K, ceil(H/4), ceil(W/4)) and (K, H, W).
    """
    H, W = img.shape[-2:]
    strided_size, up_size = cam_sizes(H, W)
    iters = [adv_iter] * len(scales) if scale_iters is None else scale_iters
    weights = [1.0] * len(scales) if scale_weights is None else scale_weights
    if len(iters) != len(scales) or len(weights) != len(scales):
        raise ValueError(f'{len(scales)} scales but {len(iters)} scale_iters '
                         f'and {len(weights)} scale_weights')
    keys = torch.as_tensor(keys, dtype=torch.long, device=img.device)
    K = keys.numel()
    if K == 0:
        return img.new_zeros((0, ) + strided_size), img.new_zeros((0, H, W))
    chunks = keys.split(class_chunk or K)
    strided, high_res = 0, 0
    for s, n, w in zip(scales, iters, weights):
        x = resize_image(img, s)
        acc = torch.cat([
            advcam_climb(model, x, k, n, ad_coeff, ad_stepsize, score_th,
                         flip) for k in chunks
        ])[None] * w
        strided = strided + F.interpolate(
            acc, strided_size, mode='bilinear', align_corners=False)
        high_res = high_res + F.interpolate(
            acc, up_size, mode='bilinear', align_corners=False)[..., :H, :W]
    return strided[0], high_res[0]


def predict_advcams(model: nn.Module,
                    inputs: Tensor,
                    data_samples: list,
                    scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
                    flip: bool = True,
                    adv_iter: int = 27,
                    ad_coeff: float = 7.0,
                    ad_stepsize: float = 0.08,
                    score_th: float = 0.5,
                    scale_iters: Optional[Sequence[int]] = None,
                    scale_weights: Optional[Sequence[float]] = None,
                    class_chunk: Optional[int] = None,
                    fuse_bn: bool = True,
                    channels_last: bool = False,
                    reference: bool = False) -> List:
    """:func:`mmc2am.cam.predict_cams` with AdvCAMs (``test_cfg.mode='advcam'``).

    Fills the same fields: ``cam`` (K, ceil(h/4), ceil(w/4)) and
    ``high_res_cam`` (K, h, w) float32 CPU tensors, each class divided by
    (its max + 1e-5), metainfo ``cam_keys`` (K,) int64 and
    ``cam_from_file``; a sample that already has ``cam``, ``high_res_cam``
    and ``cam_keys`` (read back from its CAM file) is kept as it is. Runs
    with gradients enabled whatever the caller's mode (mmengine's test loop
    runs under ``torch.no_grad``), in eval mode (restored after), without
    touching the parameters' ``.grad``.

    Args:
        model (nn.Module): A CAM classifier (``extract_feat``,
            ``head.cam``).
        inputs (Tensor): (B, 3, H, W) normalised, padded images.
        data_samples (list): With ``gt_label`` and ``img_shape``.
        scales, flip: As :func:`predict_cams`.
        adv_iter, ad_coeff, ad_stepsize, score_th, scale_iters,
            scale_weights, class_chunk: See :func:`advcam_multi_scale`.
        fuse_bn, channels_last, reference: :func:`predict_cams` options,
            accepted so that a CAM-mode ``test_cfg`` can switch mode alone;
            unused (the climbing needs the model's own gradients).

    Returns:
        list: The same samples with the CAM fields.
    """
    if inputs.shape[0] != len(data_samples):
        raise ValueError(f'{inputs.shape[0]} images but {len(data_samples)} '
                         'data samples')
    opts = dict(scales=scales, flip=flip, adv_iter=adv_iter,
                ad_coeff=ad_coeff, ad_stepsize=ad_stepsize, score_th=score_th,
                scale_iters=scale_iters, scale_weights=scale_weights,
                class_chunk=class_chunk)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            for i, sample in enumerate(data_samples):
                h, w = (int(v) for v in sample.img_shape[:2])
                if h > inputs.shape[-2] or w > inputs.shape[-1]:
                    raise ValueError(f'img_shape {(h, w)} exceeds the batch '
                                     f'{tuple(inputs.shape[-2:])}')
                done = all(k in sample
                           for k in ('cam', 'high_res_cam', 'cam_keys'))
                if done:
                    keys = torch.as_tensor(sample.cam_keys)
                    strided, high_res = sample.cam, sample.high_res_cam
                else:
                    keys = sample_keys(sample)
                    # the padding cropped: an image's CAMs do not depend on
                    # its batch
                    strided, high_res = advcam_multi_scale(
                        model, inputs[i:i + 1, :, :h, :w], keys, **opts)
                    strided = normalize_cams(strided).float().cpu()
                    high_res = normalize_cams(high_res).float().cpu()
                sample.set_field(keys, 'cam_keys', field_type='metainfo')
                sample.set_field(done, 'cam_from_file', field_type='metainfo')
                sample.set_field(strided, 'cam', field_type='data')
                sample.set_field(high_res, 'high_res_cam', field_type='data')
    finally:
        model.train(was_training)
    return data_samples


__all__ = [
    'advcam_climb', 'advcam_multi_scale', 'advcam_step', 'predict_advcams'
]
