"""Multi-scale + flip CAM inference with IRN's semantics (``step/make_cam.py``).

For each scale ``s`` the image is resized to ``round(H*s) x round(W*s)`` and
run together with its horizontal flip; the flipped CAM is flipped back and
added, and the per-scale maps are resized (bilinear) and summed at two
resolutions:

- stride 4: ``ceil(H/4) x ceil(W/4)`` (IRN's ``strided_size``);
- full resolution: resized to ``ceil(H/16)*16 x ceil(W/16)*16`` (IRN's
  ``strided_up_size``) then cropped to ``H x W``.

IRN rescales the uint8 image with PIL's bicubic filter (which antialiases
when shrinking) and normalises afterwards. Normalisation is affine per
channel, so resizing the normalised tensor with torch's PIL-compatible
``bicubic`` + ``antialias=True`` gives the same image up to PIL's uint8
rounding and clipping, and keeps inference on the device.

Two implementations with the same result:

- :func:`multi_scale_cam_reference`: the plain loop (one forward per scale and
  per flip, every class interpolated), kept as the yardstick of tests and
  benchmarks;
- :func:`multi_scale_cam`: one forward per scale for the whole batch and its
  flips, and only the requested classes resized (interpolation acts on each
  channel alone, so selecting channels first changes nothing).
"""
import math
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

CamFn = Callable[[Tensor], Tensor]


def cam_sizes(h: int, w: int) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """IRN's ``strided_size`` (stride 4) and ``strided_up_size`` (stride 16)
    of an ``h x w`` image."""
    return ((math.ceil(h / 4), math.ceil(w / 4)),
            (math.ceil(h / 16) * 16, math.ceil(w / 16) * 16))


def scaled_size(h: int, w: int, scale: float) -> Tuple[int, int]:
    """``(round(h*scale), round(w*scale))``, IRN's ``pil_rescale`` size."""
    return int(round(h * scale)), int(round(w * scale))


def check_scales(h: int, w: int, scales: Sequence[float],
                 name: Optional[str] = None) -> None:
    """Refuse image scales that shrink an ``h x w`` image to nothing.

    torch would fail inside the resize with "Input and output sizes should
    be greater than 0", naming neither the image nor the scale.

    Args:
        h (int): Image height.
        w (int): Image width.
        scales (Sequence[float]): Image scales of the CAM inference.
        name (str, optional): The image (its path), for the message.

    Raises:
        ValueError: Names the image, its size and the scale.
    """
    for s in scales:
        if s == 1.0 and h > 0 and w > 0:
            continue
        size = scaled_size(h, w, s)
        if min(size) < 1:
            raise ValueError(
                f'image {name or "(unnamed)"} of {h}x{w} pixels is too small '
                f'for CAM scale {s}: it would be resized to '
                f'{size[0]}x{size[1]}; use larger images or drop the scale '
                '(model.test_cfg.scales)')


def resize_image(img: Tensor, scale: float) -> Tensor:
    """Resize a (N, 3, H, W) float image by ``scale`` like PIL's bicubic.

    The output size is ``(round(H*scale), round(W*scale))`` as IRN's
    ``pil_rescale``; scale 1 returns the input itself. ValueError (naming
    the scale) if that size is 0.
    """
    if scale == 1.0:
        return img
    H, W = img.shape[-2:]
    check_scales(H, W, (scale, ))
    size = scaled_size(H, W, scale)
    return F.interpolate(
        img, size=size, mode='bicubic', align_corners=False, antialias=True)


def _upsample(cam: Tensor, size: Tuple[int, int]) -> Tensor:
    return F.interpolate(cam, size, mode='bilinear', align_corners=False)


def multi_scale_cam_reference(
        forward_cam: CamFn,
        img: Tensor,
        scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
        flip: bool = True) -> Tuple[Tensor, Tensor]:
    """Straightforward multi-scale CAM: a loop over images, scales and flips.

    Args:
        forward_cam (callable): Maps a (N, 3, h, w) batch to (N, C, h', w')
            non-negative CAMs (``relu(conv1x1(features))``).
        img (Tensor): (B, 3, H, W) normalised images of one size.
        scales (Sequence[float]): Image scales.
        flip (bool): Also run each scale's horizontal flip and add it back.

    Returns:
        tuple[Tensor, Tensor]: (B, C, ceil(H/4), ceil(W/4)) and (B, C, H, W)
        un-normalised CAM sums over scales.
    """
    H, W = img.shape[-2:]
    strided_size, up_size = cam_sizes(H, W)
    strided, high_res = [], []
    for one in img.split(1):
        s4, hr = 0, 0
        for s in scales:
            x = resize_image(one, s)
            cam = forward_cam(x)
            if flip:
                cam = cam + forward_cam(x.flip(-1)).flip(-1)
            s4 = s4 + _upsample(cam, strided_size)
            hr = hr + _upsample(cam, up_size)[..., :H, :W]
        strided.append(s4)
        high_res.append(hr)
    return torch.cat(strided), torch.cat(high_res)


def multi_scale_cam(
    forward_cam: CamFn,
    img: Tensor,
    scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
    flip: bool = True,
    keys: Optional[Sequence[Tensor]] = None
) -> Tuple[Union[Tensor, List[Tensor]], Union[Tensor, List[Tensor]]]:
    """Sum of the CAMs over scales (and flips), at stride 4 and full size.

    Equal to :func:`multi_scale_cam_reference` (up to float rounding), with
    one forward per scale for the whole batch and its flips, and, when
    ``keys`` is given, only those classes resized.

    Args:
        forward_cam (callable): Maps a (N, 3, h, w) batch to (N, C, h', w')
            non-negative CAMs.
        img (Tensor): (B, 3, H, W) normalised images of one size.
        scales (Sequence[float]): Image scales.
        flip (bool): Also run each scale's horizontal flip and add it back.
        keys (Sequence[Tensor], optional): Per image, a (K_b,) long tensor of
            the classes to keep.

    Returns:
        tuple: Without ``keys``, (B, C, ceil(H/4), ceil(W/4)) and
        (B, C, H, W) tensors; with ``keys``, two lists of B tensors,
        (K_b, ceil(H/4), ceil(W/4)) and (K_b, H, W). Un-normalised sums.
    """
    B = img.shape[0]
    H, W = img.shape[-2:]
    strided_size, up_size = cam_sizes(H, W)
    if keys is not None:
        if len(keys) != B:
            raise ValueError(f'{len(keys)} key sets for {B} images')
        keys = [torch.as_tensor(k, dtype=torch.long, device=img.device)
                for k in keys]
        counts = [len(k) for k in keys]
        if sum(counts) == 0:  # no class to keep: skip the forward passes
            empty = img.new_zeros((0, H, W))
            return ([empty.new_zeros((0, ) + strided_size)] * B,
                    [empty] * B)
    strided, high_res = 0, 0
    for s in scales:
        x = resize_image(img, s)
        if flip:
            cam = forward_cam(torch.cat([x, x.flip(-1)]))
            cam = cam[:B] + cam[B:].flip(-1)
        else:
            cam = forward_cam(x)
        if keys is not None:
            # Only the kept maps of every image, as one (1, sum K, h, w)
            # batch: a single interpolation call per resolution and scale.
            cam = torch.cat([c[k] for c, k in zip(cam, keys)])[None]
        strided = strided + _upsample(cam, strided_size)
        high_res = high_res + _upsample(cam, up_size)[..., :H, :W]
    if keys is None:
        return strided, high_res
    return (list(strided[0].split(counts)), list(high_res[0].split(counts)))


def square_cam(forward_cam: CamFn,
               img: Tensor,
               keys: Tensor,
               size: int,
               scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
               flip: bool = True) -> Tensor:
    """C2AM's square CAM of one image (its ``make_square_cam.py``).

    Each scale's CAM (flip added back) is resized straight to
    ``size x size`` (aspect ratio ignored), the scales are summed, and each
    kept class is divided by (its max + 1e-5). This is what the reference
    averages into the global CAM; it differs from resizing the normalised
    full-resolution multi-scale CAM (class means differ by a few percent).

    Args:
        forward_cam (callable): Maps (N, 3, h, w) to (N, C, h', w')
            non-negative CAMs.
        img (Tensor): (1, 3, H, W) normalised image.
        keys (Tensor): (K,) long, the classes to keep.
        size (int): Side ``S`` of the output.
        scales (Sequence[float]): Image scales.
        flip (bool): Also run each scale's horizontal flip and add it back.

    Returns:
        Tensor: (K, S, S) max-normalised maps.
    """
    if img.shape[0] != 1:
        raise ValueError(f'square_cam takes one image, got {img.shape[0]}')
    total = 0
    for s in scales:
        x = resize_image(img, s)
        if flip:
            cam = forward_cam(torch.cat([x, x.flip(-1)]))
            cam = cam[:1] + cam[1:].flip(-1)
        else:
            cam = forward_cam(x)
        total = total + _upsample(cam[:, keys], (size, size))
    return normalize_cams(total[0])


def normalize_cams(cams: Tensor, eps: float = 1e-5) -> Tensor:
    """Divide each map of (..., h, w) by (its max + eps), as IRN does."""
    if cams.numel() == 0:
        return cams
    peak = cams.flatten(-2).max(dim=-1).values[..., None, None]
    return cams / (peak + eps)


__all__ = [
    'cam_sizes', 'check_scales', 'multi_scale_cam', 'multi_scale_cam_reference',
    'normalize_cams', 'resize_image', 'scaled_size', 'square_cam'
]
