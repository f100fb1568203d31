"""IRN's random walk, with a sparse transition matrix instead of a dense one.

IRN (``misc/indexing.py: propagate_to_edge``) on a ``h x w`` grid of
``N = h * w`` nodes:

1. affinities ``a_ij = 1 - max(boundary on the path i -> j)`` for the pairs
   closer than the radius (5), symmetric, with ``a_ii = 1``; 0 elsewhere;
2. ``S = A ** beta`` (beta 10) and the *column*-normalised transition matrix
   ``T = S / sum(S, dim=0, keepdim=True)``;
3. ``T`` squared ``exp_times`` (8) times, i.e. ``T ** 256``;
4. ``rw = (x * (1 - boundary)).view(C, N) @ T ** 256``.

The dense ``N x N`` matrix is 1 GiB at 128 x 128 nodes (a 512 x 512 image at
stride 4) and each squaring is ``N ** 3`` work. Since ``x @ T ** K`` equals
``K`` steps of ``x <- x @ T`` and ``S`` has about ``2 * D + 1`` non-zeros per
row (``D`` = 34 directions at radius 5), this module keeps ``T`` as a sparse
CSR matrix and applies it ``2 ** exp_times`` times: ``O(N * D)`` memory and
``O(2 ** exp_times * N * D * C)`` time. Because ``S`` is symmetric,
``(x @ T).T = P @ x.T`` with the *row*-normalised ``P = S / S.sum(1)``, which
is what is stored.

:func:`random_walk_dense` is IRN's dense formulation, kept for tests and the
benchmark on grids small enough for it.
"""
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .labels import background_argmax
from .path_index import PathIndex


def _path_index(radius: float, path_index: Optional[PathIndex]) -> PathIndex:
    if path_index is None:
        return PathIndex(radius)
    if path_index.radius != radius:
        raise ValueError(f'path_index has radius {path_index.radius}, '
                         f'expected {radius}')
    return path_index


def pair_affinities(edge: Tensor, radius: float = 5,
                    path_index: Optional[PathIndex] = None
                    ) -> Tuple[Tensor, Tensor, Tensor]:
    """Affinities of every pair within ``radius`` on a boundary map.

    Args:
        edge (Tensor): (h, w) class-boundary probabilities in [0, 1].
        radius (float): Pair radius (IRN's random walk uses 5).
        path_index (PathIndex, optional): Reused if given.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``src``, ``dst`` (P,) int64 flat node
        indices (``src < dst``, each unordered pair once) and ``aff`` (P,)
        the affinities ``1 - max(edge along the path)``.
    """
    pi = _path_index(radius, path_index)
    h, w = edge.shape
    mask = torch.from_numpy(pi.pair_mask((h, w))).to(edge.device)
    aff = pi.to_affinity(edge, layout='full')[mask]
    src, dst = (torch.from_numpy(i).to(edge.device)
                for i in pi.pair_indices((h, w)))
    return src, dst, aff


def sparse_transition_matrix(edge: Tensor, beta: float = 10,
                             radius: float = 5,
                             path_index: Optional[PathIndex] = None) -> Tensor:
    """IRN's transition matrix, transposed, as a sparse CSR tensor.

    Args:
        edge (Tensor): (h, w) class-boundary probabilities in [0, 1].
        beta (float): Exponent of the affinities (IRN: 10).
        radius (float): Pair radius (IRN: 5).
        path_index (PathIndex, optional): Reused if given.

    Returns:
        Tensor: (N, N) sparse CSR ``P`` with ``P[j, i] = T[i, j] = S[i, j] /
        sum_k S[k, j]``, ``S = A ** beta`` (``N = h * w``); rows sum to 1.
    """
    n = edge.numel()
    src, dst, aff = pair_affinities(edge, radius, path_index)
    diag = torch.arange(n, device=edge.device)
    rows = torch.cat([src, dst, diag])
    cols = torch.cat([dst, src, diag])
    vals = torch.cat([aff.pow(beta), aff.pow(beta),
                      torch.ones(n, dtype=aff.dtype, device=aff.device)])
    # S is symmetric, so its row sums are the column sums IRN divides by;
    # the diagonal (a_ii = 1) keeps every sum >= 1
    deg = torch.zeros(n, dtype=vals.dtype, device=vals.device)
    deg.index_add_(0, rows, vals)
    vals = vals / deg[rows]
    with warnings.catch_warnings():
        # torch flags CSR as "beta"; CSR @ dense is the stable part we use
        warnings.filterwarnings('ignore', message='Sparse CSR tensor support')
        return torch.sparse_coo_tensor(
            torch.stack([rows, cols]), vals, (n, n),
            check_invariants=False).coalesce().to_sparse_csr()


def _compute_dtype(x: Tensor) -> torch.dtype:
    """float64 when asked for (tests, accuracy checks), else float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def random_walk(x: Tensor, edge: Tensor, beta: float = 10,
                exp_times: int = 8, radius: float = 5,
                path_index: Optional[PathIndex] = None) -> Tensor:
    """Propagate score maps along the boundary-aware random walk of IRN.

    Equals IRN's ``propagate_to_edge`` (``(x * (1 - edge)) @ T ** 2 **
    exp_times``) up to float rounding, with ``2 ** exp_times`` sparse
    matrix products instead of a dense ``N x N`` matrix.

    Computed in float32, or in float64 when ``x`` is float64.

    Args:
        x (Tensor): (C, h, w) score maps (e.g. the stride-4 CAMs).
        edge (Tensor): (h, w) class-boundary probabilities in [0, 1].
        beta (float): Affinity exponent (IRN: 10).
        exp_times (int): The walk takes ``2 ** exp_times`` steps (IRN: 8).
        radius (float): Pair radius (IRN: 5).
        path_index (PathIndex, optional): Reused if given.

    Returns:
        Tensor: (C, h, w) propagated maps.
    """
    if x.shape[-2:] != edge.shape:
        raise ValueError(f'x {tuple(x.shape)} and edge {tuple(edge.shape)} '
                         'differ in size')
    c, h, w = x.shape
    dtype = _compute_dtype(x)
    x, edge = x.to(dtype), edge.to(dtype)
    trans = sparse_transition_matrix(edge, beta, radius, path_index)
    # IRN damps the scores on boundaries before walking
    y = (x * (1 - edge)).reshape(c, h * w).t().contiguous()
    for _ in range(2**exp_times):
        y = torch.sparse.mm(trans, y)
    return y.t().reshape(c, h, w)


def random_walk_dense(x: Tensor, edge: Tensor, beta: float = 10,
                      exp_times: int = 8, radius: float = 5,
                      path_index: Optional[PathIndex] = None) -> Tensor:
    """IRN's dense random walk (``T`` squared ``exp_times`` times).

    Reference for tests and benchmarks only: it forms ``N x N`` matrices
    (``N = h * w``), 1 GiB each at 128 x 128.

    Args:
        Same as :func:`random_walk`.

    Returns:
        Tensor: (C, h, w) propagated maps.
    """
    c, h, w = x.shape
    n = h * w
    dtype = _compute_dtype(x)
    x, edge = x.to(dtype), edge.to(dtype)
    src, dst, aff = pair_affinities(edge, radius, path_index)
    a = torch.eye(n, dtype=dtype, device=edge.device)
    a[src, dst] = aff
    a[dst, src] = aff
    s = a.pow_(beta)
    trans = s / s.sum(dim=0, keepdim=True)
    del a, s
    for _ in range(exp_times):
        trans = trans @ trans
    y = (x * (1 - edge)).reshape(c, n)
    return (y @ trans).reshape(c, h, w)


def random_walk_scores(cams: Tensor, edge: Tensor,
                       img_size: Tuple[int, int], beta: float = 10,
                       exp_times: int = 8, radius: float = 5,
                       path_index: Optional[PathIndex] = None,
                       cam_power: float = 1.0) -> Tensor:
    """Walked class scores of one image at full resolution, IRN's protocol.

    The stride-4 CAMs, raised to ``cam_power``, are walked, upsampled 4x
    (bilinear), cropped to the image and divided by their global maximum
    (IRN's ``make_sem_seg_labels``; AdvCAM's walks ``cam ** 1.5``, its
    ``step/make_sem_seg_labels.py`` line 42).

    Args:
        cams (Tensor): (K, h, w) stride-4 CAMs of the present classes,
            ``h = ceil(H / 4)``, ``w = ceil(W / 4)``; K may be 0. Non-negative
            (the CAM files hold ``relu`` maps divided by their max).
        edge (Tensor): (h, w) class-boundary probabilities.
        img_size (tuple[int, int]): ``(H, W)`` of the image.
        beta, exp_times, radius, path_index: See :func:`random_walk`.
        cam_power (float): Exponent applied to ``cams`` before the walk
            (IRN, C2AM, ReCAM: 1, i.e. none; AdvCAM: 1.5).

    Returns:
        Tensor: (K, H, W) scores, maximum 1 (unless all are 0).
    """
    height, width = img_size
    if cams.shape[0] == 0:
        return cams.new_zeros((0, height, width))
    if cam_power <= 0:
        raise ValueError(f'cam_power must be > 0, got {cam_power}')
    if cam_power != 1:
        cams = cams.pow(cam_power)
    rw = random_walk(cams, edge, beta, exp_times, radius, path_index)
    rw_up = F.interpolate(
        rw[None], scale_factor=4, mode='bilinear',
        align_corners=False)[0, :, :height, :width]
    peak = rw_up.max()
    return rw_up / peak if peak > 0 else rw_up


def scores_to_labels(scores: Tensor, keys: Sequence[int],
                     bg_thr: float) -> np.ndarray:
    """Labels from (K, H, W) class scores and a constant background score.

    :func:`mmc2am.cam.labels.background_argmax` as uint8.

    Args:
        scores (Tensor): (K, H, W) scores (:func:`random_walk_scores`).
        keys (Sequence[int]): (K,) 0-based class indices (no background).
        bg_thr (float): Background score (IRN 0.25, C2AM 0.20).

    Returns:
        np.ndarray: (H, W) uint8 labels, 0 background, ``k + 1`` class k.
    """
    return background_argmax(scores, keys, bg_thr).astype(np.uint8)


def random_walk_labels(cams: Tensor, keys: Sequence[int], edge: Tensor,
                       img_size: Tuple[int, int], bg_thr: float = 0.25,
                       beta: float = 10, exp_times: int = 8,
                       radius: float = 5,
                       path_index: Optional[PathIndex] = None,
                       cam_power: float = 1.0) -> np.ndarray:
    """Semantic pseudo-mask of one image: IRN's ``make_sem_seg_labels``.

    :func:`random_walk_scores` then :func:`scores_to_labels`.

    Args:
        cams (Tensor): (K, h, w) stride-4 CAMs of the present classes,
            ``h = ceil(H / 4)``, ``w = ceil(W / 4)``.
        keys (Sequence[int]): (K,) 0-based class indices (no background).
        edge (Tensor): (h, w) class-boundary probabilities.
        img_size (tuple[int, int]): ``(H, W)`` of the image.
        bg_thr (float): Background score (IRN 0.25, C2AM 0.20).
        beta, exp_times, radius, path_index: See :func:`random_walk`.
        cam_power (float): See :func:`random_walk_scores`.

    Returns:
        np.ndarray: (H, W) uint8 labels, 0 background, ``k + 1`` class k.
    """
    scores = random_walk_scores(cams, edge, img_size, beta, exp_times,
                                radius, path_index, cam_power)
    return scores_to_labels(scores, keys, bg_thr)
