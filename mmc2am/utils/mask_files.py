"""Helpers shared by the mask-writing stages (pseudo-masks, IRN random walk)."""
import json
import os.path as osp
from typing import Sequence

from .io import atomic_open


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
                f'{[params.get(k) for k in diff]}); use another out_dir or '
                'delete it')
    else:
        with atomic_open(path, 'w') as f:
            json.dump(params, f, indent=2)
