"""Atomic file writing: a crash or a kill never leaves a half-written file."""
import os
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
