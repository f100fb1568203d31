"""Atomic file writing (a crash or a kill never leaves a half-written file)
and reading back what the test stages wrote."""
import glob
import json
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator, Optional

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_open(path: str, mode: str = 'wb') -> Iterator[IO]:
    """Open a temporary file beside ``path`` and rename it onto ``path`` on success.

    The rename is atomic on POSIX, so readers (and reruns that skip finished
    files) see either no file or the complete one. On an exception the
    temporary file is removed and ``path`` is left untouched.

    Args:
        path (str): Final file path. Its folder is created if missing.
        mode (str): ``'wb'`` or ``'w'``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
    # mkstemp makes the file owner-only; give it the usual open() mode
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def pick_metric(metrics: Optional[dict], key: str) -> Optional[float]:
    """``metrics[key]`` as a float, also when a metric prefixes its keys
    (``'seed/mIoU'``); None for no dict or no such key. Reads the
    ``test_metrics.json`` that ``tools/test.py`` writes."""
    if not metrics:
        return None
    for k, v in metrics.items():
        if k == key or k.endswith('/' + key):
            return float(v)
    return None


def latest_seed_sweep(work_dir: str) -> Optional[str]:
    """The newest ``seed_sweep.json`` of a seed test run in ``work_dir``
    (SeedMetric writes it into the run's log folder,
    ``<work_dir>/<timestamp>/``); None if there is none."""
    sweeps = sorted(glob.glob(osp.join(work_dir, '*', 'seed_sweep.json')))
    return sweeps[-1] if sweeps else None


def seed_miou_at(sweep_file: str, threshold: float) -> Optional[float]:
    """Seed mIoU of a ``seed_sweep.json`` at the swept background threshold
    nearest to ``threshold`` (None where the sweep has no value)."""
    with open(sweep_file) as f:
        curve = json.load(f)
    thrs = curve['thresholds']
    i = min(range(len(thrs)), key=lambda j: abs(thrs[j] - threshold))
    value = curve['mIoU'][i]
    return None if value is None else float(value)
