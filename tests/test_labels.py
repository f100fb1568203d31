"""The one background-plane argmax against IRN's formulation."""
import numpy as np
import pytest
import torch

from mmc2am.cam.labels import background_argmax, peak_and_label


def irn_argmax(cams, keys, t):
    """IRN: pad a constant plane t in front, np.argmax, map to ids."""
    planes = np.concatenate(
        [np.full((1, ) + cams.shape[1:], t, cams.dtype), cams])
    return np.concatenate([[0], np.asarray(keys) + 1])[planes.argmax(0)]


def test_equals_irn_with_ties():
    rng = np.random.default_rng(0)
    # quantised to 0.1: many pixels tie with the threshold and each other
    cams = (rng.integers(0, 11, (3, 9, 7)) / 10).astype(np.float32)
    keys = [2, 7, 19]
    for t in (0.0, 0.3, 0.5, 1.0):
        np.testing.assert_array_equal(background_argmax(cams, keys, t),
                                      irn_argmax(cams, keys, t))
    # torch input, the same labels
    np.testing.assert_array_equal(
        background_argmax(torch.from_numpy(cams), keys, 0.3),
        irn_argmax(cams, keys, 0.3))


def test_hand_made():
    cams = np.array([[[0.3, 0.31, 0.5]], [[0.2, 0.31, 0.6]]], np.float32)
    # 0.3 ties the background; 0.31 ties between classes -> the first
    np.testing.assert_array_equal(background_argmax(cams, [4, 9], 0.3),
                                  [[0, 5, 10]])
    peak, label = peak_and_label(cams, [5, 10])
    np.testing.assert_allclose(peak, [[0.3, 0.31, 0.6]])
    np.testing.assert_array_equal(label, [[5, 5, 10]])


def test_no_class_and_bad_shapes():
    assert not background_argmax(np.zeros((0, 4, 5)), [], 0.1).any()
    assert background_argmax(np.zeros((0, 4, 5)), [], 0.1).shape == (4, 5)
    with pytest.raises(ValueError, match='2 class keys'):
        background_argmax(np.zeros((1, 4, 5)), [1, 2], 0.1)
