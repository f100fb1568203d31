"""CAM files: one compressed float16 ``.npz`` per image, written atomically.

A file holds the CAMs of the classes present in the image:

- ``keys``: int64 (K,), class indices (0-based, without background);
- the stride-4 CAMs, float16 (K, ceil(H/4), ceil(W/4));
- optionally the full-resolution CAMs, float16 (K, H, W).

Read them with :func:`load_cam_file` (float32 arrays ``cam`` and
``high_res``). On disk each float16 map set is stored losslessly filtered
before deflate, as TIFF's predictor and HDF5's shuffle filter do: the float16
bit patterns are differenced along rows (CAMs are smooth, so neighbours have
close bit patterns: non-negative float16 values order like their bits) and
split into a low-byte and a high-byte plane (uint8 (2, K, h, w) arrays
``cam_d16`` / ``high_res_d16``). That halves the files against deflate of
the raw float16 (see ``benchmarks/README.md``). Files that store plain
float16 ``cam`` / ``high_res`` arrays are read as well.
"""
import os
import zipfile
from typing import Dict, Optional

import numpy as np

from mmc2am.utils.io import atomic_open

FORMAT_VERSION = 2


def cam_file_path(cam_dir: str, img_id: str) -> str:
    """Path of the CAM file of ``img_id`` in ``cam_dir``."""
    return os.path.join(cam_dir, f'{img_id}.npz')


def encode_maps(maps: np.ndarray) -> np.ndarray:
    """float16 (..., w) maps to uint8 (2, ..., w) byte planes of the row-wise
    differences of their bit patterns (lossless, see the module doc)."""
    bits = np.ascontiguousarray(maps, dtype=np.float16).view(np.uint16)
    # uint16 arithmetic wraps, and decode_maps's cumsum wraps back exactly.
    delta = np.diff(bits, axis=-1, prepend=np.zeros_like(bits[..., :1]))
    return np.stack([delta & 0xFF, delta >> 8]).astype(np.uint8)


def decode_maps(planes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_maps`: uint8 (2, ..., w) to float16."""
    delta = planes[0].astype(np.uint16) | (planes[1].astype(np.uint16) << 8)
    return np.cumsum(delta, axis=-1, dtype=np.uint16).view(np.float16)


def save_cam_file(path: str, keys: np.ndarray, cam: np.ndarray,
                  high_res: Optional[np.ndarray] = None) -> None:
    """Write the CAMs of one image atomically (temp file + rename).

    Args:
        path (str): Output ``.npz`` path.
        keys (np.ndarray): (K,) class indices of the maps.
        cam (np.ndarray): (K, h, w) stride-4 CAMs (max-normalised, so that
            float16 holds them).
        high_res (np.ndarray, optional): (K, H, W) full-resolution CAMs.
    """
    keys = np.asarray(keys, dtype=np.int64)
    maps = dict(cam=cam)
    if high_res is not None:
        maps['high_res'] = high_res
    arrays = dict(keys=keys, version=np.int64(FORMAT_VERSION))
    for name, arr in maps.items():
        with np.errstate(over='ignore'):  # overflow is reported below
            arr = np.asarray(arr, dtype=np.float16)
        if arr.ndim != 3 or arr.shape[0] != keys.shape[0]:
            raise ValueError(f'{path}: {name} of shape {arr.shape} does not '
                             f'hold one map per key ({keys.shape[0]} keys)')
        # float16 ends at 65504: un-normalised CAMs could silently turn inf.
        if not np.isfinite(arr).all():
            raise ValueError(f'{path}: {name} is not finite in float16 '
                             '(save max-normalised CAMs)')
        arrays[name + '_d16'] = encode_maps(arr)
    with atomic_open(path, 'wb') as f:
        np.savez_compressed(f, **arrays)


def load_cam_file(path: str) -> Dict[str, np.ndarray]:
    """Read a CAM file written by :func:`save_cam_file` as float32 arrays.

    Returns:
        dict: ``keys`` (int64 (K,)), ``cam`` (float32 (K, h, w)) and, if
        saved, ``high_res`` (float32 (K, H, W)).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'CAM file not found: {path}')
    try:
        with np.load(path) as data:
            raw = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(f'{path}: not a readable CAM file ({e})') from e
    out = dict()
    for name in ('cam', 'high_res'):
        if name + '_d16' in raw:
            out[name] = decode_maps(raw[name + '_d16']).astype(np.float32)
        elif name in raw:  # plain float16 maps
            out[name] = raw[name].astype(np.float32)
    if 'keys' not in raw or 'cam' not in out:
        raise ValueError(f'{path}: CAM file lacks "keys" or "cam" '
                         f'(has {sorted(raw)})')
    out['keys'] = raw['keys'].astype(np.int64)
    return out


__all__ = [
    'cam_file_path', 'decode_maps', 'encode_maps', 'load_cam_file',
    'save_cam_file'
]
