"""Read IRN's ``cls_labels.npy`` without running code from the file.

IRN's ``voc12/make_cls_labels.py`` writes ``np.save(out, d)`` with ``d`` a
dict ``{np.int32 id: float32 (20,) 0/1 vector}`` (ids as
``int('2007_000032'.replace('_', ''))``; labels from the XML annotations
of ``train_aug`` + ``val``). ``np.save`` of a dict stores a 0-d object
array, i.e. a pickle, and ``np.load(allow_pickle=True)`` would call any
global a crafted file names. Here the header is read with
``numpy.lib.format`` and the payload unpickled with an allow-list of the
few numpy callables that format needs (array and scalar reconstruction,
dtype); dicts, lists, ints, strings and bytes are pickle opcodes and need
no global.
"""
import pickle
from typing import Any, Dict

import numpy as np

# The callables numpy's own pickles name, under both module paths (files
# written by numpy 1.x say ``numpy.core``, numpy 2.x ``numpy._core``).
_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
_SCALAR = np.int32(0).__reduce__()[0]
_ALLOWED = {
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
}
for _mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
    _ALLOWED[(_mod, '_reconstruct')] = _RECONSTRUCT
    _ALLOWED[(_mod, 'scalar')] = _SCALAR


class _LabelUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals of numpy arrays/scalars."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f'refused global {module}.{name}') from None


def load_irn_cls_labels(path: str) -> Dict[Any, np.ndarray]:
    """Load a label dict saved with ``np.save`` (IRN's ``cls_labels.npy``).

    Args:
        path (str): The ``.npy`` file.

    Returns:
        dict: Keys as stored (numpy integers become ``int``; strings stay),
        values as stored (normally float32 (C,) 0/1 vectors).

    Raises:
        pickle.UnpicklingError: The pickle names a global other than numpy's
            array/scalar/dtype reconstruction (nothing is called), or is
            corrupt. The message names ``path``.
        ValueError: Not a ``.npy`` file holding a dict. Names ``path``.
    """
    with open(path, 'rb') as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f'.npy format version {version}')
        except ValueError as e:
            raise ValueError(f'{path}: not a .npy label file ({e})') from None
        if dtype != np.dtype(object) or shape != ():
            raise ValueError(
                f'{path}: expected a dict saved with np.save (IRN\'s '
                f'cls_labels.npy), found an array {dtype} {shape}')
        try:
            arr = _LabelUnpickler(f).load()
        except pickle.UnpicklingError as e:
            raise pickle.UnpicklingError(
                f'{path}: not loaded, {e}: IRN\'s cls_labels.npy holds only '
                'a dict of numpy arrays (crafted or foreign file?)') from None
        except Exception as e:  # truncated or garbled payload
            raise pickle.UnpicklingError(
                f'{path}: corrupt label file ({type(e).__name__}: {e})'
            ) from None
    table = arr.item() if isinstance(arr, np.ndarray) and arr.shape == () \
        else arr
    if not isinstance(table, dict):
        raise ValueError(f'{path}: expected a dict id -> label vector, got '
                         f'{type(table).__name__}')
    return {(int(k) if isinstance(k, np.integer) else k): v
            for k, v in table.items()}
