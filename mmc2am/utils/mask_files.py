"""Label-map PNG files of the mask stages: reading, writing, checking.

Masks are VOC palette PNGs: one uint8 label per pixel (0 background,
1..20 classes, 255 ignore) with VOC's colour map, so they look like the
dataset's own ``SegmentationClass`` files. Nothing here imports
mmseg at module level.
"""
import json
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from .io import atomic_open


def voc_png_palette(num: int = 256) -> np.ndarray:
    """VOC's PNG colour map (bit-interleaved), ``(num, 3)`` uint8 RGB.

    Entries 0-20 are mmseg's ``PascalVOCDataset.METAINFO['palette']``
    (checked by a test); the 256 entries are written into every mask so its
    bytes match VOC's own files (255 is ``(224, 224, 192)``, VOC's ignore
    colour).
    """
    palette = np.zeros((num, 3), dtype=np.uint8)
    for i in range(num):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= (c & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


VOC_PNG_PALETTE = voc_png_palette()
_PALETTE_BYTES = VOC_PNG_PALETTE.reshape(-1).tolist()


def save_label_png(path: str, mask: np.ndarray) -> None:
    """Write a (H, W) uint8 label map as a VOC palette PNG, atomically."""
    png = Image.fromarray(np.asarray(mask, dtype=np.uint8))  # 'L', made 'P'
    png.putpalette(_PALETTE_BYTES)
    with atomic_open(path, 'wb') as f:
        png.save(f, format='PNG')


def load_label_png(path: str) -> np.ndarray:
    """The label indices of a (palette) PNG as (H, W) uint8.

    Raises:
        FileNotFoundError: No such file.
        ValueError: The file is not a readable single-channel PNG (the
            message names it).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map not found: {path}')
    try:
        with Image.open(path) as png:
            if png.mode not in ('P', 'L'):
                raise ValueError(f'mode {png.mode!r}, expected a palette or '
                                 'grey-level PNG of label ids')
            return np.asarray(png, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f'{path}: not a readable label map ({e})') from e


def check_label_values(seg: np.ndarray, path: Optional[str],
                       num_classes: int, ignore_index: int = 255) -> None:
    """Refuse label values that are neither a class nor ``ignore_index``.

    Args:
        seg (np.ndarray): (H, W) label map.
        path (str, optional): Its file, for the message.
        num_classes (int): Labels ``0 .. num_classes - 1`` are classes.
        ignore_index (int): The one other legal value.

    Raises:
        ValueError: Naming the file and the offending values.
    """
    if seg.max(initial=0) < num_classes:  # the common case, one pass
        return
    bad = np.unique(seg[(seg >= num_classes) & (seg != ignore_index)])
    if bad.size:
        raise ValueError(
            f'{path}: pixel value {bad.tolist()} is neither a class '
            f'(0-{num_classes - 1}) nor ignore_index {ignore_index}')


def first_ids(ids: Sequence[str], n: int = 5) -> str:
    """The first ``n`` ids, comma separated, for error messages."""
    return ', '.join(ids[:n]) + (', ...' if len(ids) > n else '')


def check_mask_params(out_dir: str, params_file: str, params: dict) -> None:
    """Refuse to mix masks made with other settings into ``out_dir``.

    Skipping finished files is only right if they were made the same way, so
    the settings are recorded beside the masks (``params_file``) on the first
    run and compared on every rerun.
    """
    path = osp.join(out_dir, params_file)
    if osp.exists(path):
        with open(path) as f:
            old = json.load(f)
        diff = sorted(k for k in set(old) | set(params)
                      if old.get(k) != params.get(k))
        if diff:
            raise ValueError(
                f'{out_dir} holds masks made with other settings ({diff}: '
                f'{[old.get(k) for k in diff]} -> '
                f'{[params.get(k) for k in diff]}); use another output '
                'folder or delete it')
    else:
        with atomic_open(path, 'w') as f:
            json.dump(params, f, indent=2)


__all__ = [
    'VOC_PNG_PALETTE', 'check_label_values', 'check_mask_params',
    'first_ids', 'load_label_png', 'save_label_png', 'voc_png_palette'
]
