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

Remove this module once a released mmengine passes ``weights_only`` itself
(fixed upstream after 0.10.7).
"""
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


def register_checkpoint_safe_globals() -> None:
    """Allow-list the non-tensor types of mmengine runner checkpoints."""
    global _registered
    if _registered or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.logging import HistoryBuffer
    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] +
        _numpy_globals())
    _registered = True
