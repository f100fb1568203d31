"""Let mmengine 0.10.7 load its own runner checkpoints under torch >= 2.6.

torch 2.6 switched ``torch.load`` to ``weights_only=True`` by default, and
mmengine 0.10.7 calls ``torch.load`` without the argument, so ``--resume``,
``load_from`` and ``tools/test.py CKPT`` fail with ``UnpicklingError: Weights
only load failed``: a runner checkpoint pickles mmengine's ``HistoryBuffer``
(message hub) and numpy arrays/scalars.

Rather than turning safe loading off (``weights_only=False``) for every file,
this allow-lists exactly those types, so any other global in a checkpoint is
still refused. ``HistoryBuffer`` pickles its statistics methods as
``getattr(HistoryBuffer, 'mean')``; the real ``getattr`` would let a crafted
file reach any attribute of any allowed object, so ``builtins.getattr`` is
mapped to :func:`_history_buffer_getattr`, which resolves only those methods.

It also replaces mmengine's local-file checkpoint loader by
:func:`load_from_local`, the same ``torch.load`` but with errors that name
the file: an empty or truncated checkpoint (a save killed half way) gives
a bare ``EOFError`` or a zip-reader ``RuntimeError`` from torch otherwise.

Remove the allow-list once a released mmengine passes ``weights_only``
itself (fixed upstream after 0.10.7).
"""
import os
import os.path as osp
import pickle

import numpy as np
import torch

_registered = False


def _numpy_globals() -> list:
    import numpy.dtypes as npd
    from numpy._core import multiarray
    types = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    types += [getattr(npd, n) for n in dir(npd) if n.endswith('DType')]
    return types


def _history_buffer_getattr(obj, name):
    """``getattr`` restricted to the public methods of ``HistoryBuffer``."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and not name.startswith('_') and callable(
            getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}), which mmc2am does '
        'not allow-list for weights_only loading')


def load_from_local(filename: str, map_location=None) -> dict:
    """mmengine's ``load_from_local`` with load errors that name the file.

    Args:
        filename (str): Local checkpoint path (``~`` expanded).
        map_location: As :func:`torch.load`.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        FileNotFoundError: No such file.
        RuntimeError: The file is empty, truncated or not a torch
            checkpoint (message: the file and its size).
        pickle.UnpicklingError: Safe loading refused a global (torch's
            message, prefixed with the file).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location)
    except pickle.UnpicklingError as e:
        if 'Weights only load failed' not in str(e):
            raise _unreadable(filename, e) from e
        # a refused global, not a broken file: keep torch's type and advice
        raise pickle.UnpicklingError(f'{filename}: {e}') from None
    except (EOFError, KeyError, ValueError, IndexError,
            UnicodeDecodeError) as e:
        # what the (weights-only) unpickler meets in an empty or garbled
        # legacy (non-zip) file
        raise _unreadable(filename, e) from e
    except RuntimeError as e:
        # torch's zip reader on a truncated or garbled file; other runtime
        # errors (e.g. a CUDA map_location without CUDA) pass unchanged
        if not any(m in str(e) for m in ('PytorchStreamReader', 'zip archive',
                                          'magic number')):
            raise
        raise _unreadable(filename, e) from e


def _unreadable(filename: str, e: BaseException) -> RuntimeError:
    size = os.path.getsize(filename)
    what = 'empty' if size == 0 else 'truncated or not a checkpoint'
    return RuntimeError(
        f'{filename}: {what} ({size} bytes; a save killed half way?): '
        f'delete it or use another checkpoint ({type(e).__name__}: {e})')


def register_checkpoint_safe_globals() -> None:
    """Patch mmengine's checkpoint loading (once per process).

    Allow-lists the non-tensor types of mmengine runner checkpoints for
    torch's safe loading, and registers :func:`load_from_local` as
    mmengine's loader of local files.
    """
    global _registered
    if _registered:
        return
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    _registered = True
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.logging import HistoryBuffer
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] +
        _numpy_globals())
