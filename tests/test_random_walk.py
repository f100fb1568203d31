"""Sparse random walk vs IRN's dense transition-matrix powers."""
import numpy as np
import pytest
import torch

from mmc2am.cam.path_index import PathIndex, path_offsets
from mmc2am.cam.random_walk import (
    pair_affinities,
    random_walk,
    random_walk_dense,
    random_walk_labels,
    sparse_transition_matrix,
)


def dense_transition_by_hand(edge, radius, beta):
    """IRN's T = S / colsum(S), S = A ** beta, from a loop over pixel pairs."""
    h, w = edge.shape
    n = h * w
    a = torch.eye(n, dtype=torch.float64)
    pi = PathIndex(radius)
    for dy, dx in pi.directions.tolist():
        path = path_offsets((dy, dx)).tolist()
        for y in range(h):
            for x in range(w):
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    b = max(float(edge[y + oy, x + ox]) for oy, ox in path)
                    i, j = y * w + x, (y + dy) * w + x + dx
                    a[i, j] = a[j, i] = 1 - b
    s = a**beta
    return s / s.sum(dim=0, keepdim=True)


def test_sparse_transition_is_irn_matrix_transposed():
    torch.manual_seed(0)
    edge = torch.rand(5, 6, dtype=torch.float64)
    trans = sparse_transition_matrix(edge, beta=3, radius=3)
    assert trans.layout == torch.sparse_csr
    expected = dense_transition_by_hand(edge, radius=3, beta=3)
    torch.testing.assert_close(trans.to_dense(), expected.t())
    # rows of P = columns of T sum to one
    torch.testing.assert_close(trans.to_dense().sum(1),
                               torch.ones(30, dtype=torch.float64))


def test_sparse_matrix_stays_sparse():
    h, w = 16, 16
    edge = torch.rand(h, w)
    pi = PathIndex(5)
    trans = sparse_transition_matrix(edge, radius=5, path_index=pi)
    num_pairs = len(pi.pair_indices((h, w))[0])
    # diagonal + each pair in both directions, nothing else
    assert trans.values().numel() == h * w + 2 * num_pairs
    assert trans.values().numel() <= h * w * (2 * pi.num_directions + 1)
    src, dst, aff = pair_affinities(edge, 5, pi)
    assert src.shape == dst.shape == aff.shape == (num_pairs, )


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-4),
                                       (torch.float64, 1e-10)])
def test_sparse_walk_equals_dense_matrix_powers(dtype, tol):
    torch.manual_seed(0)
    h, w = 12, 10
    # mostly low boundary with a few strong ridges, like a trained IRNet
    edge = torch.rand(h, w)**3
    edge[:, 4] = 0.95
    x = torch.rand(3, h, w).to(dtype)
    sparse = random_walk(x, edge, beta=10, exp_times=8, radius=5)
    dense = random_walk_dense(x, edge, beta=10, exp_times=8, radius=5)
    assert sparse.dtype == dense.dtype == dtype
    assert sparse.shape == (3, h, w)
    assert (sparse - dense).abs().max().item() < tol


@pytest.mark.parametrize('exp_times', [0, 1, 3])
def test_walk_steps_are_matrix_powers(exp_times):
    torch.manual_seed(1)
    edge = torch.rand(4, 5, dtype=torch.float64)
    x = torch.rand(2, 4, 5, dtype=torch.float64)
    t = dense_transition_by_hand(edge, radius=3, beta=2)
    expected = (x * (1 - edge)).reshape(2, -1) @ torch.linalg.matrix_power(
        t, 2**exp_times)
    got = random_walk(x, edge, beta=2, exp_times=exp_times, radius=3)
    torch.testing.assert_close(got.reshape(2, -1), expected)


def test_walk_without_boundaries_keeps_constant_maps():
    x = torch.full((1, 9, 7), 0.5, dtype=torch.float64)
    out = random_walk(x, torch.zeros(9, 7, dtype=torch.float64), exp_times=4)
    torch.testing.assert_close(out, x)


def test_walk_does_not_cross_a_closed_boundary():
    # a full-height wall splits the grid; scores on the left stay left
    h, w = 8, 9
    edge = torch.zeros(h, w, dtype=torch.float64)
    edge[:, 4] = 1.0
    x = torch.zeros(1, h, w, dtype=torch.float64)
    x[0, 3, 1] = 1.0
    out = random_walk(x, edge, exp_times=6)
    assert out[0, :, 4:].abs().max() == 0
    # the walk averages (T is column-normalised): the score spreads over
    # the left part
    assert (out[0, :, :4] > 0).all()


def test_random_walk_labels():
    torch.manual_seed(0)
    h, w = 8, 20  # stride-4 grid of a 30 x 77 image
    cams = torch.zeros(2, h, w)
    cams[0, :4, :4] = 1.0
    cams[1, 5:, 14:] = 0.8
    edge = torch.zeros(h, w)
    keys = np.array([4, 11])
    # one step: scores move less than the radius (5 cells)
    labels = random_walk_labels(cams, keys, edge, (30, 77), bg_thr=0.25,
                                exp_times=0)
    assert labels.shape == (30, 77) and labels.dtype == np.uint8
    assert set(np.unique(labels).tolist()) == {0, 5, 12}
    assert labels[2, 2] == 5 and labels[29, 76] == 12 and labels[2, 76] == 0
    # a background score above every normalised score: all background
    assert not random_walk_labels(cams, keys, edge, (30, 77), bg_thr=1.1,
                                  exp_times=0).any()
    # no classes: all background
    assert not random_walk_labels(cams[:0], keys[:0], edge, (30, 77)).any()


def test_size_mismatch_raises():
    with pytest.raises(ValueError):
        random_walk(torch.rand(1, 4, 4), torch.rand(4, 5))
