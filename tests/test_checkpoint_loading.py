"""mmengine 0.10.7 + torch 2.14: runner checkpoints load, other pickles stay refused."""
import collections
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

import mmc2am  # noqa: F401  (registers the safe globals)


def test_runner_style_checkpoint_loads(tmp_path):
    buf = HistoryBuffer()
    buf.update(0.5)
    ckpt = dict(
        meta=dict(epoch=1, iter=3, seed=np.int64(7),
                  hist=np.arange(3, dtype=np.float32)),
        message_hub=dict(log_scalars={'train/loss': buf}),
        state_dict=collections.OrderedDict(w=torch.ones(2)))
    path = tmp_path / 'epoch_1.pth'
    torch.save(ckpt, path)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert loaded['meta']['iter'] == 3
    assert loaded['meta']['seed'] == 7
    np.testing.assert_array_equal(loaded['meta']['hist'], np.arange(3))
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 0.5


class _Evil:
    def __reduce__(self):
        return (print, ('this must not run',))


def test_unknown_globals_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        _load_checkpoint(str(path), map_location='cpu')


class _GetattrEscape:
    # getattr on an allowed object is the classic way out of a restricted
    # unpickler; it must not be allowed beyond HistoryBuffer's methods.
    def __reduce__(self):
        return (getattr, (np.ndarray, 'tofile'))


def test_getattr_is_restricted(tmp_path):
    path = tmp_path / 'escape.pth'
    torch.save({'x': _GetattrEscape()}, path)
    with pytest.raises(pickle.UnpicklingError, match='does not allow-list'):
        _load_checkpoint(str(path), map_location='cpu')
