"""Test-mode CAM inference for a CAM classifier: CAMs of the present classes.

``predict_cams`` is what :class:`mmc2am.models.MultiScaleCAM` (the default
CAM generator of ``CAMClassifier``'s ``test_cfg.mode == 'cam'``) runs: per
image, multi-scale + flip CAMs (:func:`multi_scale_cam`), only
the ground-truth classes kept, each divided by (its max + 1e-5), as IRN's
``make_cam.py``. Samples that already carry their CAMs (read back from CAM
files by :class:`mmc2am.engine.CAMFileHook`, which also writes them;
``cam_from_file=True``) are kept as they are.

Speed, with results equal to the plain per-scale loop up to float rounding:

- images of one size in a batch share each scale's forward pass with their
  flips (a padded batch is cropped to each image's ``img_shape`` first and
  grouped by size);
- only the ground-truth classes are resized (two bilinear resizes per scale,
  the full-resolution one dominating).

Folding the frozen BatchNorm into the convolutions was measured to save
about 5% of the CPU time of a ResNet-50 forward (``benchmarks/README.md``);
:func:`inference_cam_fn` does it, with mmcv's ``fuse_conv_bn`` on a copy,
for callers that make one pass over a dataset (``GlobalCAMHook``).
"""
import copy
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from mmcv.cnn import fuse_conv_bn
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from .multi_scale import (
    multi_scale_cam,
    multi_scale_cam_reference,
    normalize_cams,
)


def inference_cam_fn(model: nn.Module,
                     fuse_bn: bool = True) -> Callable[[Tensor], Tensor]:
    """``forward_cam`` for one inference pass, BatchNorm folded if frozen.

    With ``fuse_bn`` and every BatchNorm in eval mode (running statistics,
    so folding is exact up to float rounding), the ``forward_cam`` of a
    copy of the model made now with mmcv's ``fuse_conv_bn``; make it once
    per pass (it does not follow later weight changes). Otherwise
    ``model.forward_cam`` itself.

    Args:
        model (nn.Module): Has ``forward_cam(x) -> (N, C, h, w)``.
        fuse_bn (bool): Fold BatchNorm into the convolutions.

    Returns:
        callable: (N, 3, h, w) -> (N, C, h', w') CAMs.
    """
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not fuse_bn or not bns or any(m.training for m in bns):
        return model.forward_cam
    fused = fuse_conv_bn(copy.deepcopy(model)).requires_grad_(False)
    return fused.forward_cam


def sample_keys(sample) -> Tensor:
    """(K,) sorted 0-based ground-truth class indices of a data sample."""
    label = sample.gt_label
    return torch.unique(torch.as_tensor(label).long().cpu().flatten())


def check_batch(inputs: Tensor, data_samples: list) -> None:
    """Raise ValueError unless there is one data sample per image."""
    if inputs.shape[0] != len(data_samples):
        raise ValueError(f'{inputs.shape[0]} images but {len(data_samples)} '
                         'data samples')


def image_size(sample, inputs: Tensor) -> Tuple[int, int]:
    """``(h, w)`` of a sample's image (its ``img_shape``) inside the padded
    (B, 3, H, W) batch ``inputs``; ValueError if it does not fit."""
    h, w = (int(v) for v in sample.img_shape[:2])
    if h > inputs.shape[-2] or w > inputs.shape[-1]:
        raise ValueError(f'img_shape {(h, w)} exceeds the batch '
                         f'{tuple(inputs.shape[-2:])}')
    return h, w


def set_cam_fields(sample, keys: Tensor, strided: Tensor, high_res: Tensor,
                   from_file: bool) -> None:
    """Store the CAM fields of a CAM generator's output on a data sample.

    Args:
        sample: An mmpretrain ``DataSample``.
        keys (Tensor): (K,) int64 classes, metainfo ``cam_keys``.
        strided (Tensor): (K, ceil(h/4), ceil(w/4)) data field ``cam``.
        high_res (Tensor): (K, h, w) data field ``high_res_cam``.
        from_file (bool): Metainfo ``cam_from_file``: the sample came with
            its CAMs (read back from its CAM file), not recomputed.
    """
    sample.set_field(keys, 'cam_keys', field_type='metainfo')
    sample.set_field(from_file, 'cam_from_file', field_type='metainfo')
    sample.set_field(strided, 'cam', field_type='data')
    sample.set_field(high_res, 'high_res_cam', field_type='data')


def predict_cams(model: nn.Module,
                 inputs: Tensor,
                 data_samples: list,
                 scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
                 flip: bool = True,
                 reference: bool = False) -> List:
    """Add ``cam_keys``, ``cam`` and ``high_res_cam`` fields to each sample.

    Args:
        model (nn.Module): Has ``forward_cam(x) -> (N, C, h, w)``.
        inputs (Tensor): (B, 3, H, W) normalised images, padded at the bottom
            and right to a common size.
        data_samples (list): mmpretrain ``DataSample`` with ``gt_label``
            (class indices) and ``img_shape``. A sample with metainfo
            ``cam_from_file=True`` (its ``cam``, ``high_res_cam`` and
            ``cam_keys`` read from its CAM file) is not recomputed.
        scales (Sequence[float]): Image scales. Defaults to IRN's
            (1.0, 0.5, 1.5, 2.0).
        flip (bool): Add each scale's horizontal flip. Defaults to True.
        reference (bool): Use the plain per-image, per-scale, per-flip loop
            on the model as is (:func:`multi_scale_cam_reference`), for
            checks and benchmarks.

    Returns:
        list: The same samples, with ``cam`` (K, ceil(h/4), ceil(w/4)) and
        ``high_res_cam`` (K, h, w) float32 CPU tensors, and metainfo
        ``cam_keys`` (K,) int64 (0-based classes, ascending) and
        ``cam_from_file`` (bool: the sample came with its CAMs).
    """
    check_batch(inputs, data_samples)
    results: Dict[int, Tuple[Tensor, Tensor, Tensor, bool]] = {}
    todo: Dict[Tuple[int, int], List[int]] = {}
    for i, sample in enumerate(data_samples):
        h, w = image_size(sample, inputs)
        if sample.get('cam_from_file', False):  # CAMFileHook read them
            results[i] = (torch.as_tensor(sample.cam_keys), sample.cam,
                          sample.high_res_cam, True)
            continue
        todo.setdefault((h, w), []).append(i)

    if todo:
        cam_fn = model.forward_cam
        with torch.no_grad():
            for (h, w), idx in todo.items():
                # Crop the padding: the CAMs of an image must not depend on
                # the batch it came in.
                imgs = inputs[idx, :, :h, :w]
                keys = [sample_keys(data_samples[i]) for i in idx]
                if reference:
                    s4, hr = multi_scale_cam_reference(
                        cam_fn, imgs, scales, flip)
                    dev_keys = [k.to(s4.device) for k in keys]
                    s4 = [c[k] for c, k in zip(s4, dev_keys)]
                    hr = [c[k] for c, k in zip(hr, dev_keys)]
                else:
                    s4, hr = multi_scale_cam(
                        cam_fn, imgs, scales, flip, keys=keys)
                for i, k, a, b in zip(idx, keys, s4, hr):
                    a = normalize_cams(a).float().cpu()
                    b = normalize_cams(b).float().cpu()
                    results[i] = (k, a, b, False)

    for i, sample in enumerate(data_samples):
        set_cam_fields(sample, *results[i])
    return data_samples


__all__ = [
    'check_batch', 'image_size', 'inference_cam_fn', 'predict_cams',
    'sample_keys', 'set_cam_fields'
]
