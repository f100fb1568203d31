"""Test-mode CAM inference for a CAM classifier: CAMs of the present classes.

``predict_cams`` is what ``CAMClassifier.test_step`` runs when
``test_cfg.mode == 'cam'`` (every other ``test_cfg`` key is passed on as a
keyword): per image, multi-scale + flip CAMs (:func:`multi_scale_cam`), only
the ground-truth classes kept, each divided by (its max + 1e-5), as IRN's
``make_cam.py``. With ``cam_dir`` set, one CAM file per image is written, and
a rerun reads finished files back instead of recomputing them.

Speed, with results equal to the plain per-scale loop up to float rounding:

- images of one size in a batch share each scale's forward pass with their
  flips (a padded batch is cropped to each image's ``img_shape`` first and
  grouped by size);
- only the ground-truth classes are resized (two bilinear resizes per scale,
  the full-resolution one dominating);
- with every BatchNorm in eval mode (frozen), the forward runs on a cached
  copy of the model whose BatchNorm layers are folded into the preceding
  convolutions, optionally in ``channels_last`` layout; its weights are
  refreshed from the model at every call, and the copy is checked once
  against the model and dropped (with a warning) if they disagree.
"""
import copy
import os.path as osp
import weakref
from itertools import chain
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .cam_file import cam_file_path, load_cam_file, save_cam_file
from .multi_scale import (
    cam_sizes,
    multi_scale_cam,
    multi_scale_cam_reference,
    normalize_cams,
)


def _conv_bn_pairs(module: nn.Module, prefix: str = '') -> List[Tuple[str, str]]:
    """Names of (Conv2d, BatchNorm) pairs where the BatchNorm is registered
    right after the convolution among siblings (as in ``conv, bn`` of
    ``nn.Sequential`` and of mmpretrain's ResNet blocks and stem).

    Registration order is only a proxy of data flow, which is why
    :func:`inference_cam_fn` checks the folded model once against the model.
    """
    pairs = []
    last_conv = None
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm):
            if last_conv is not None and child.track_running_stats:
                pairs.append((last_conv, prefix + name))
            last_conv = None
        elif type(child) is nn.Conv2d:
            last_conv = prefix + name
        else:
            last_conv = None
            pairs += _conv_bn_pairs(child, prefix + name + '.')
    return pairs


class _FoldedModel:
    """A copy of a model with frozen BatchNorm folded into its convolutions.

    The copy's structure is built once; its weights are recomputed from the
    model's current weights at every :meth:`refresh` (milliseconds, against
    seconds of inference), so it can never run stale weights, whichever way
    the model's weights were changed.
    """

    def __init__(self, model: nn.Module, fuse_bn: bool,
                 channels_last: bool) -> None:
        self.pairs = _conv_bn_pairs(model) if fuse_bn else []
        fast = copy.deepcopy(model)  # the model itself stays untouched
        for conv_name, bn_name in self.pairs:
            conv = fast.get_submodule(conv_name)
            if conv.bias is None:
                conv.bias = nn.Parameter(
                    conv.weight.new_zeros(conv.out_channels))
            parent, _, child = bn_name.rpartition('.')
            owner = fast.get_submodule(parent) if parent else fast
            owner._modules[child] = nn.Identity()
        fast.requires_grad_(False)
        if channels_last:
            fast = fast.to(memory_format=torch.channels_last)
        self.fast = fast
        self.channels_last = channels_last
        self.state = dict(chain(fast.named_parameters(), fast.named_buffers()))
        self.checked = False

    @torch.no_grad()
    def refresh(self, model: nn.Module) -> None:
        """Copy (and fold) the model's current weights into the copy."""
        src = dict(chain(model.named_parameters(), model.named_buffers()))
        folded = set()
        for conv_name, bn_name in self.pairs:
            bn = model.get_submodule(bn_name)
            w, b = fuse_conv_bn_weights(
                src[conv_name + '.weight'], src.get(conv_name + '.bias'),
                bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
            self.state[conv_name + '.weight'].copy_(w)
            self.state[conv_name + '.bias'].copy_(b)
            folded.update((conv_name + '.weight', conv_name + '.bias'))
        for name, t in self.state.items():
            if name not in folded:
                t.copy_(src[name])

    def __call__(self, x: Tensor) -> Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.fast.forward_cam(x).contiguous()


# model -> (structure key, _FoldedModel or None when unusable)
_FOLDED: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def _bn_frozen(model: nn.Module) -> bool:
    """True when every BatchNorm uses its running statistics (eval mode), so
    folding it into the convolution is exact."""
    return all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


def inference_cam_fn(model: nn.Module,
                     fuse_bn: bool = True,
                     channels_last: bool = False,
                     check_tol: float = 1e-4) -> Callable[[Tensor], Tensor]:
    """``model.forward_cam``, sped up for inference where that is exact.

    With ``fuse_bn`` and every BatchNorm in eval mode, returns the
    ``forward_cam`` of a cached copy of the model whose BatchNorm layers are
    folded into the preceding convolutions (torch's
    ``fuse_conv_bn_weights``), its weights refreshed from the model on every
    call of this function. The first forward of a new copy is checked against
    the model; on a mismatch the copy is dropped with a warning.

    Args:
        model (nn.Module): Has ``forward_cam(x) -> (N, C, h, w)``.
        fuse_bn (bool): Fold BatchNorm into the convolutions.
        channels_last (bool): Run the copy in ``channels_last`` layout.
        check_tol (float): Largest difference, relative to the CAMs' max,
            tolerated between the copy and the model on the first input.

    Returns:
        callable: (N, 3, h, w) -> (N, C, h', w') CAMs.
    """
    fuse_bn = fuse_bn and _bn_frozen(model)
    if not (fuse_bn or channels_last):
        return model.forward_cam
    p = next(model.parameters(), None)
    key = (fuse_bn, channels_last, None if p is None else (p.device, p.dtype),
           tuple(m.training for m in model.modules()))
    entry = _FOLDED.get(model)
    if entry is None or entry[0] != key:
        try:
            folded = _FoldedModel(model, fuse_bn, channels_last)
        except Exception as e:  # an unusual model: run it as it is
            print_log(f'CAM inference: cannot build the folded model ({e}); '
                      'using the model as is', 'current')
            folded = None
        entry = [key, folded]
        _FOLDED[model] = entry
    folded = entry[1]
    if folded is None:
        return model.forward_cam
    folded.refresh(model)

    def forward_cam(x: Tensor) -> Tensor:
        if entry[1] is None:
            return model.forward_cam(x)
        out = folded(x)
        if not folded.checked:
            # Registration order is not data flow: check the copy once.
            ref = model.forward_cam(x)
            err = (out - ref).abs().max() / ref.abs().max().clamp(min=1e-12)
            if not bool(err <= check_tol):
                print_log(
                    'CAM inference: the BN-folded model differs from the '
                    f'model by {float(err):.2e} (relative); not using it',
                    'current')
                entry[1] = None
                return ref
            folded.checked = True
        return out

    return forward_cam


def _sample_keys(sample) -> Tensor:
    """(K,) sorted 0-based ground-truth class indices of a data sample."""
    label = sample.gt_label
    return torch.unique(torch.as_tensor(label).long().cpu().flatten())


def _img_id(sample) -> str:
    img_id = sample.get('img_id', None)
    if img_id is None:
        img_path = sample.get('img_path', None)
        if img_path is None:
            raise KeyError('CAM files need an img_id or img_path per sample')
        img_id = osp.splitext(osp.basename(img_path))[0]
    return str(img_id)


def _read_finished(path: str, keys: Tensor,
                   size: Tuple[int, int]) -> Optional[Dict[str, Tensor]]:
    """The CAMs of a finished file, or None if it is missing or stale."""
    if not osp.exists(path):
        return None
    try:
        saved = load_cam_file(path)
    except ValueError as e:
        print_log(f'CAM inference: recomputing {path}: {e}', 'current')
        return None
    strided_size, _ = cam_sizes(*size)
    if ('high_res' not in saved or saved['keys'].tolist() != keys.tolist()
            or tuple(saved['high_res'].shape[1:]) != tuple(size)
            or tuple(saved['cam'].shape[1:]) != strided_size):
        print_log(f'CAM inference: recomputing {path}: keys or size differ '
                  'from this run', 'current')
        return None
    return {k: torch.from_numpy(v) for k, v in saved.items()}


def predict_cams(model: nn.Module,
                 inputs: Tensor,
                 data_samples: list,
                 scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
                 flip: bool = True,
                 cam_dir: Optional[str] = None,
                 overwrite: bool = False,
                 fuse_bn: bool = True,
                 channels_last: bool = False,
                 reference: bool = False) -> List:
    """Add ``cam_keys``, ``cam`` and ``high_res_cam`` fields to each sample.

    Args:
        model (nn.Module): Has ``forward_cam(x) -> (N, C, h, w)``.
        inputs (Tensor): (B, 3, H, W) normalised images, padded at the bottom
            and right to a common size.
        data_samples (list): mmpretrain ``DataSample`` with ``gt_label``
            (class indices) and ``img_shape``; ``img_id`` (else the stem of
            ``img_path``) names the CAM files.
        scales (Sequence[float]): Image scales. Defaults to IRN's
            (1.0, 0.5, 1.5, 2.0).
        flip (bool): Add each scale's horizontal flip. Defaults to True.
        cam_dir (str, optional): Folder of CAM files (one per image, see
            :mod:`mmc2am.cam.cam_file`) to write; finished files found there
            (same classes and size) are read back instead of recomputed,
            so a rerun of a killed test resumes. CAMs read back carry the
            files' float16 rounding (at most 2^-12 on [0, 1]).
        overwrite (bool): Recompute and rewrite existing CAM files.
        fuse_bn (bool): Fold frozen BatchNorm into the convolutions of a
            cached inference copy (see :func:`inference_cam_fn`).
        channels_last (bool): Run that copy in ``channels_last`` layout.
        reference (bool): Use the plain per-image, per-scale, per-flip loop
            on the model as is (:func:`multi_scale_cam_reference`), for
            checks and benchmarks.

    Returns:
        list: The same samples, with ``cam`` (K, ceil(h/4), ceil(w/4)) and
        ``high_res_cam`` (K, h, w) float32 CPU tensors, and metainfo
        ``cam_keys`` (K,) int64 (0-based classes, ascending) and
        ``cam_from_file`` (bool).
    """
    if inputs.shape[0] != len(data_samples):
        raise ValueError(f'{inputs.shape[0]} images but {len(data_samples)} '
                         'data samples')
    results: Dict[int, Tuple[Tensor, Tensor, Tensor, bool]] = {}
    todo: Dict[Tuple[int, int], List[int]] = {}
    paths: Dict[int, str] = {}
    for i, sample in enumerate(data_samples):
        h, w = (int(v) for v in sample.img_shape[:2])
        if h > inputs.shape[-2] or w > inputs.shape[-1]:
            raise ValueError(f'img_shape {(h, w)} exceeds the batch '
                             f'{tuple(inputs.shape[-2:])}')
        keys = _sample_keys(sample)
        if cam_dir is not None:
            paths[i] = cam_file_path(cam_dir, _img_id(sample))
            saved = None if overwrite else _read_finished(
                paths[i], keys, (h, w))
            if saved is not None:
                results[i] = (keys, saved['cam'], saved['high_res'], True)
                continue
        todo.setdefault((h, w), []).append(i)

    if todo:
        cam_fn = model.forward_cam if reference else inference_cam_fn(
            model, fuse_bn=fuse_bn, channels_last=channels_last)
        with torch.no_grad():
            for (h, w), idx in todo.items():
                # Crop the padding: the CAMs of an image must not depend on
                # the batch it came in.
                imgs = inputs[idx, :, :h, :w]
                keys = [_sample_keys(data_samples[i]) for i in idx]
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
                    if i in paths:  # written as soon as it is known
                        save_cam_file(paths[i], k.numpy(), a.numpy(),
                                      b.numpy())

    for i, sample in enumerate(data_samples):
        keys, strided, high_res, from_file = results[i]
        sample.set_field(keys, 'cam_keys', field_type='metainfo')
        sample.set_field(from_file, 'cam_from_file', field_type='metainfo')
        sample.set_field(strided, 'cam', field_type='data')
        sample.set_field(high_res, 'high_res_cam', field_type='data')
    return data_samples


__all__ = ['inference_cam_fn', 'predict_cams']
