"""CAM files: one compressed float16 ``.npz`` per image, written atomically.

A file holds the CAMs of the classes present in the image:

- ``keys``: int64 (K,), class indices (0-based, without background).
- ``cam``: float16 (K, ceil(H/4), ceil(W/4)), the stride-4 CAMs.
- ``high_res``: float16 (K, H, W), the full-resolution CAMs.
"""
import os
import zipfile
from typing import Dict, Optional

import numpy as np

from mmc2am.utils.io import atomic_open


def cam_file_path(cam_dir: str, img_id: str) -> str:
    """Path of the CAM file of ``img_id`` in ``cam_dir``."""
    return os.path.join(cam_dir, f'{img_id}.npz')


def save_cam_file(path: str, keys: np.ndarray, cam: np.ndarray,
                  high_res: Optional[np.ndarray] = None) -> None:
    """Write the CAMs of one image atomically (temp file + rename).

    Args:
        path (str): Output ``.npz`` path.
        keys (np.ndarray): (K,) class indices of the maps.
        cam (np.ndarray): (K, h, w) stride-4 CAMs.
        high_res (np.ndarray, optional): (K, H, W) full-resolution CAMs.
    """
    keys = np.asarray(keys, dtype=np.int64)
    arrays = dict(keys=keys, cam=np.asarray(cam, dtype=np.float16))
    if high_res is not None:
        arrays['high_res'] = np.asarray(high_res, dtype=np.float16)
    for name, arr in arrays.items():
        if name != 'keys' and arr.shape[0] != keys.shape[0]:
            raise ValueError(f'{path}: {name} has {arr.shape[0]} maps but '
                             f'{keys.shape[0]} keys')
    with atomic_open(path, 'wb') as f:
        np.savez_compressed(f, **arrays)


def load_cam_file(path: str) -> Dict[str, np.ndarray]:
    """Read a CAM file written by :func:`save_cam_file` as float32 arrays.

    Returns:
        dict: ``keys`` (int64), ``cam`` and, if saved, ``high_res`` (float32).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'CAM file not found: {path}')
    try:
        with np.load(path) as data:
            out = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(f'{path}: not a readable CAM file ({e})') from e
    if 'keys' not in out or 'cam' not in out:
        raise ValueError(f'{path}: CAM file lacks "keys" or "cam" '
                         f'(has {sorted(out)})')
    out['keys'] = out['keys'].astype(np.int64)
    for name in ('cam', 'high_res'):
        if name in out:
            out[name] = out[name].astype(np.float32)
    return out
