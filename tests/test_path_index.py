"""PathIndex: directions, pair indices, paths and affinities vs hand counts."""
import itertools

import numpy as np
import pytest
import torch

from mmc2am.cam.path_index import PathIndex, path_offsets, search_directions


def brute_force_pairs(h, w, radius):
    """All unordered pairs (p, q), p before q in raster order, |p - q| < r."""
    pairs = set()
    cells = [(y, x) for y in range(h) for x in range(w)]
    for (y0, x0), (y1, x1) in itertools.combinations(cells, 2):
        if (y1 - y0)**2 + (x1 - x0)**2 < radius**2:
            pairs.add((y0 * w + x0, y1 * w + x1))
    return pairs


@pytest.mark.parametrize('radius', [2, 3, 5, 10])
def test_directions_are_the_forward_half_disk(radius):
    expected = {(dy, dx)
                for dy in range(-radius, radius + 1)
                for dx in range(-radius, radius + 1)
                if 0 < dy * dy + dx * dx < radius**2 and (dy > 0 or (
                    dy == 0 and dx > 0))}
    pi = PathIndex(radius)
    dirs = [tuple(d) for d in pi.directions.tolist()]
    assert len(dirs) == len(set(dirs))
    assert set(dirs) == expected
    assert set(search_directions(radius)) == expected
    # grouped by path length, as IRN lays out its index tensors
    lengths = [len(p) for p in pi.paths]
    assert lengths == sorted(lengths)
    assert pi.margin == radius - 1


def test_irn_direction_counts_and_order():
    # radius 5: 4 + 9 + 9 + 7 + 5 offsets; radius 10 (training): 152
    assert PathIndex(5).num_directions == 34
    assert PathIndex(10).num_directions == 152
    # radius 2: enumeration (0,1), (1,-1), (1,0), (1,1) regrouped by length
    pi = PathIndex(2)
    assert pi.directions.tolist() == [[0, 1], [1, 0], [1, -1], [1, 1]]


@pytest.mark.parametrize('size,radius', [((6, 7), 3), ((9, 8), 5),
                                         ((4, 12), 5), ((3, 3), 5)])
def test_pair_indices_match_brute_force(size, radius):
    src, dst = PathIndex(radius).pair_indices(size)
    got = list(zip(src.tolist(), dst.tolist()))
    assert len(got) == len(set(got)), 'a pair is listed twice'
    assert set(got) == brute_force_pairs(*size, radius)


def test_crop_pair_indices_irn_layout():
    size, radius = (9, 11), 3
    pi = PathIndex(radius)
    src, dst = pi.crop_pair_indices(size)
    m = pi.margin
    hc, wc = pi.crop_size(size)
    assert (hc, wc) == (size[0] - m, size[1] - 2 * m)
    assert src.shape == (hc * wc, ) and dst.shape == (pi.num_directions,
                                                      hc * wc)
    ys, xs = np.divmod(src, size[1])
    assert ys.min() == 0 and ys.max() == hc - 1
    assert xs.min() == m and xs.max() == m + wc - 1
    all_pairs = brute_force_pairs(*size, radius)
    for d, (dy, dx) in enumerate(pi.directions.tolist()):
        np.testing.assert_array_equal(dst[d], src + dy * size[1] + dx)
        assert {(s, t) for s, t in zip(src, dst[d])} <= all_pairs


def test_path_offsets_by_hand():
    # straight lines: every cell between, destination first
    assert path_offsets((0, 3)).tolist() == [[0, 3], [0, 2], [0, 1], [0, 0]]
    assert path_offsets((2, 0)).tolist() == [[2, 0], [1, 0], [0, 0]]
    # the diagonal: cells at distance 1/sqrt(2) < 1 from the line are on it
    assert sorted(map(tuple, path_offsets((1, 1)).tolist())) == [
        (0, 0), (0, 1), (1, 0), (1, 1)]
    # (2, 4): of the 15 cells of the box, those with |2x - 4y| < sqrt(20)
    expected = {(y, x) for y in range(3) for x in range(5)
                if (2 * x - 4 * y)**2 < 20}
    assert expected == {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2),
                        (1, 3), (1, 4), (2, 2), (2, 3), (2, 4)}
    got = path_offsets((2, 4)).tolist()
    assert set(map(tuple, got)) == expected and got[0] == [2, 4]
    # negative dx mirrors
    assert set(map(tuple, path_offsets((2, -4)).tolist())) == {
        (y, -x) for y, x in expected}


def hand_edge():
    """4 x 5 boundary map: a wall (0.9) in column 2, small values elsewhere."""
    edge = torch.tensor([[0.1, 0.0, 0.9, 0.2, 0.0],
                         [0.0, 0.3, 0.9, 0.0, 0.1],
                         [0.2, 0.0, 0.9, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 0.4, 0.0]])
    return edge


def test_affinity_by_hand():
    edge = hand_edge()
    pi = PathIndex(3)  # directions (dy, dx) with dy^2 + dx^2 < 9
    aff = pi.to_affinity(edge, layout='full')  # (D, H, W)
    assert aff.shape == (pi.num_directions, 4, 5)
    d = {tuple(v): i for i, v in enumerate(pi.directions.tolist())}

    # (0,0) -> (0,1): path {(0,0), (0,1)}: 1 - max(0.1, 0.0)
    assert aff[d[0, 1], 0, 0] == pytest.approx(0.9)
    # (0,0) -> (0,2): the wall itself is the destination
    assert aff[d[0, 2], 0, 0] == pytest.approx(0.1)
    # (1,1) -> (1,3): crosses the wall
    assert aff[d[0, 2], 1, 1] == pytest.approx(0.1)
    # (1,0) -> (2,1): path {(1,0),(1,1),(2,0),(2,1)}: max(0, .3, .2, 0)
    assert aff[d[1, 1], 1, 0] == pytest.approx(0.7)
    # (2,3) -> (3,4): path {(2,3),(2,4),(3,3),(3,4)}: max(0, 0, .4, 0)
    assert aff[d[1, 1], 2, 3] == pytest.approx(0.6)
    # (1,3) -> (3,3): path {(1,3),(2,3),(3,3)}: 0.4 at the destination
    assert aff[d[2, 0], 1, 3] == pytest.approx(0.6)
    # (2,1) -> (3,3): the path of (1, 2) is its whole 2 x 3 box
    # ((x - 2y)^2 < 5 everywhere), so it holds the wall cell (2,2)
    assert aff[d[1, 2], 2, 1] == pytest.approx(0.1)
    # (0,3) -> (1,1): the path of (1, -2) is its 2 x 3 box: the wall
    assert aff[d[1, -2], 0, 3] == pytest.approx(0.1)
    # (3,0) -> (3,1): on the bottom row, no boundary
    assert aff[d[0, 1], 3, 0] == pytest.approx(1.0)
    # destinations outside the image have affinity 0
    assert torch.all(aff[d[1, 0], 3, :] == 0)
    assert torch.all(aff[d[0, 1], :, 4] == 0)
    assert torch.all(aff[d[1, -1], :, 0] == 0)


@pytest.mark.parametrize('radius', [3, 5])
def test_affinity_matches_brute_force_paths(radius):
    torch.manual_seed(0)
    h, w = 7, 9
    edge = torch.rand(2, h, w)
    pi = PathIndex(radius)
    full = pi.to_affinity(edge, layout='full')
    mask = torch.from_numpy(pi.pair_mask((h, w)))
    for d, (dy, dx) in enumerate(pi.directions.tolist()):
        offsets = path_offsets((dy, dx))
        for y in range(h):
            for x in range(w):
                if not (0 <= y + dy < h and 0 <= x + dx < w):
                    assert not mask[d, y, x] and torch.all(full[:, d, y, x] == 0)
                    continue
                assert mask[d, y, x]
                vals = torch.stack([edge[:, y + oy, x + ox]
                                    for oy, ox in offsets.tolist()])
                torch.testing.assert_close(full[:, d, y, x],
                                           1 - vals.amax(0))
    # the crop layout is the full one on IRN's source block
    crop = pi.to_affinity(edge, layout='crop')
    hc, wc = pi.crop_size((h, w))
    m = pi.margin
    torch.testing.assert_close(crop,
                               full[:, :, :hc, m:m + wc].flatten(2))


def test_affinity_is_differentiable():
    edge = torch.rand(1, 8, 8, requires_grad=True)
    PathIndex(3).to_affinity(edge, layout='crop').sum().backward()
    assert edge.grad is not None and edge.grad.abs().sum() > 0


def test_pair_labels_by_brute_force():
    seg = torch.tensor([[0, 0, 1, 1, 255, 2],
                        [0, 1, 1, 1, 2, 2],
                        [0, 0, 255, 1, 2, 2],
                        [0, 0, 0, 1, 1, 2]])[None]
    pi = PathIndex(2)
    bg_pos, fg_pos, neg = pi.to_pair_labels(seg)
    src, dst = pi.crop_pair_indices(seg.shape[-2:])
    flat = seg.view(-1).tolist()
    for d in range(pi.num_directions):
        for k, s in enumerate(src.tolist()):
            a, b = flat[s], flat[dst[d, k]]
            valid = a < 21 and b < 21
            assert bg_pos[0, d, k] == float(valid and a == b == 0)
            assert fg_pos[0, d, k] == float(valid and a == b and a > 0)
            assert neg[0, d, k] == float(valid and a != b)
    assert bg_pos.sum() > 0 and fg_pos.sum() > 0 and neg.sum() > 0
