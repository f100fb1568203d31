"""Pixel pairs within a radius, the paths between them, and their affinities.

IRN (Ahn et al., CVPR 2019) relates every pixel to the pixels within a radius
``r`` on the stride-4 feature grid. The *affinity* of a pair is
``1 - max(boundary)`` over the pixels on the straight path between them, so a
class boundary anywhere between two pixels cuts their relation.

Each unordered pair is enumerated once, from the pixel that comes first in
raster order: the *directions* are the offsets ``(dy, dx)`` with
``dy ** 2 + dx ** 2 < r ** 2`` in the forward half-plane (``dy == 0, dx > 0``
or ``dy > 0``). The path of a direction holds the integer offsets ``(y, x)``
in the bounding box of ``(0, 0)`` and ``(dy, dx)`` whose distance to the
line through them is below 1 (both end points included), as in IRN's
``misc/indexing.py``; the direction order (grouped by path length) is IRN's
too, so the affinity and label tensors are laid out like the reference's.

Two layouts of the pairs of an ``H x W`` grid are used:

- *full* (random walk): every pair inside the image, one ``(D, H, W)`` map
  per direction, indexed by the source pixel; pairs whose destination falls
  outside the image get affinity 0 (the grid is padded with boundary 1, as
  IRN's ``propagate_to_edge`` does).
- *crop* (training, IRN's ``PathIndex`` layout): sources restricted to rows
  ``[0, H - m)`` and columns ``[m, W - m)`` with the margin ``m = ceil(r) - 1``,
  so that every direction has its destination inside the grid and all
  directions share one set of ``M = (H - m) * (W - 2m)`` sources. Tensors are
  ``(..., D, M)``.

Affinities are computed by slicing shifted views of the boundary map (one per
path offset), so no index buffers of size ``D x L x M`` are ever stored.
"""
import math
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def search_directions(radius: float) -> List[Tuple[int, int]]:
    """Forward half-plane offsets ``(dy, dx)`` with ``dy^2 + dx^2 < radius^2``.

    The order is IRN's enumeration order (row ``dy = 0`` first, then the rows
    below, left to right); :class:`PathIndex` regroups it by path length.

    Args:
        radius (float): Neighbourhood radius (exclusive), in grid cells.

    Returns:
        list[tuple[int, int]]: The offsets.
    """
    r_cells = int(math.ceil(radius))
    dirs = [(0, dx) for dx in range(1, r_cells) if dx * dx < radius**2]
    for dy in range(1, r_cells):
        for dx in range(-r_cells + 1, r_cells):
            if dx * dx + dy * dy < radius**2:
                dirs.append((dy, dx))
    return dirs


def path_offsets(direction: Tuple[int, int]) -> np.ndarray:
    """Grid offsets on the straight path from ``(0, 0)`` to ``direction``.

    A cell ``(y, x)`` of the bounding box is on the path when its distance to
    the line through the two end points is below 1. The end points are always
    included; the destination comes first (IRN sorts by ``-|y| - |x|``).

    Args:
        direction (tuple[int, int]): ``(dy, dx)``, not ``(0, 0)``.

    Returns:
        np.ndarray: (L, 2) int64 offsets ``(y, x)``.
    """
    dy, dx = direction
    length_sq = dy * dy + dx * dx
    if length_sq == 0:
        raise ValueError('direction (0, 0) has no path')
    coords = []
    for y in range(min(0, dy), max(0, dy) + 1):
        for x in range(min(0, dx), max(0, dx) + 1):
            # squared distance of (y, x) to the line through 0 and (dy, dx)
            if (dy * x - dx * y)**2 < length_sq:
                coords.append((y, x))
    coords.sort(key=lambda c: -abs(c[0]) - abs(c[1]))
    return np.asarray(coords, dtype=np.int64).reshape(-1, 2)


class PathIndex:
    """Directions, paths and pair indices of IRN's inter-pixel relations.

    Args:
        radius (float): Pairs closer than ``radius`` (Euclidean, grid cells)
            are related. IRN trains with 10 and walks with 5.

    Attributes:
        directions (np.ndarray): (D, 2) int64 offsets ``(dy, dx)``, grouped
            by increasing path length (IRN's order).
        paths (list[np.ndarray]): ``paths[d]`` is the (L_d, 2) path of
            ``directions[d]``, destination first, source ``(0, 0)`` last.
        margin (int): ``ceil(radius) - 1``, the largest offset component.
    """

    def __init__(self, radius: float):
        if radius <= 1:
            raise ValueError(f'radius must be > 1, got {radius}')
        self.radius = radius
        self.margin = int(math.ceil(radius)) - 1
        dirs = search_directions(radius)
        paths = [path_offsets(d) for d in dirs]
        # stable sort by path length: IRN stores one index tensor per length
        order = sorted(range(len(dirs)), key=lambda i: len(paths[i]))
        self.directions = np.asarray([dirs[i] for i in order],
                                     dtype=np.int64).reshape(-1, 2)
        self.paths = [paths[i] for i in order]

    @property
    def num_directions(self) -> int:
        """Number of directions ``D``."""
        return len(self.directions)

    def crop_size(self, size: Tuple[int, int]) -> Tuple[int, int]:
        """``(H - m, W - 2m)``: the source grid of the crop layout."""
        h, w = size
        hc, wc = h - self.margin, w - 2 * self.margin
        if hc <= 0 or wc <= 0:
            raise ValueError(f'grid {size} too small for radius {self.radius}')
        return hc, wc

    # ---------------------------------------------------------------- indices
    def pair_indices(self, size: Tuple[int, int]) -> Tuple[np.ndarray,
                                                            np.ndarray]:
        """Flat indices of every pair within the radius inside an image.

        Args:
            size (tuple[int, int]): Grid ``(H, W)``.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``src``, ``dst`` (P,) int64 flat
            indices (``y * W + x``) with ``src < dst``; each unordered pair
            once, ordered by direction then by source.
        """
        h, w = size
        mask = self.pair_mask(size)
        flat = np.arange(h * w, dtype=np.int64).reshape(h, w)
        src = np.concatenate([flat[m] for m in mask])
        step = self.directions[:, 0] * w + self.directions[:, 1]
        dst = src + np.repeat(step, mask.reshape(len(mask), -1).sum(1))
        return src, dst

    def pair_mask(self, size: Tuple[int, int]) -> np.ndarray:
        """Which entries of the full layout are pairs inside the image.

        Args:
            size (tuple[int, int]): Grid ``(H, W)``.

        Returns:
            np.ndarray: (D, H, W) bool, True where source ``(y, x)`` plus
            ``directions[d]`` is inside the grid. ``aff[mask]`` lists the
            affinities in the order of :meth:`pair_indices`.
        """
        h, w = size
        yy, xx = np.mgrid[0:h, 0:w]
        return np.stack([(yy + dy < h) & (xx + dx >= 0) & (xx + dx < w)
                         for dy, dx in self.directions.tolist()])

    def crop_pair_indices(self, size: Tuple[int, int]) -> Tuple[np.ndarray,
                                                                 np.ndarray]:
        """IRN's training layout: shared sources and per-direction targets.

        Args:
            size (tuple[int, int]): Grid ``(H, W)``.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``src`` (M,) and ``dst`` (D, M)
            int64 flat indices (IRN's ``src_indices`` / ``dst_indices``).
        """
        h, w = size
        hc, wc = self.crop_size(size)
        m = self.margin
        full = np.arange(h * w, dtype=np.int64).reshape(h, w)
        src = full[:hc, m:m + wc].reshape(-1)
        dst = np.stack([
            full[dy:dy + hc, m + dx:m + dx + wc].reshape(-1)
            for dy, dx in self.directions
        ])
        return src, dst

    # ------------------------------------------------------------- affinities
    def _path_max(self, edge: Tensor, top: int, left: int, out_h: int,
                  out_w: int) -> Tensor:
        """Max of ``edge`` along each direction's path, per source pixel.

        Sources are the ``out_h x out_w`` block of ``edge`` at ``(top,
        left)``; every path must stay inside ``edge``.

        Returns:
            Tensor: (B, D, out_h, out_w).
        """
        out = []
        for path in self.paths:
            views = [
                edge[:, top + y:top + y + out_h, left + x:left + x + out_w]
                for y, x in path.tolist()
            ]
            out.append(torch.stack(views, dim=1).amax(dim=1))
        return torch.stack(out, dim=1)

    def to_affinity(self, edge: Tensor, layout: str = 'full') -> Tensor:
        """Affinities ``1 - max(edge along the path)`` of every pair.

        Args:
            edge (Tensor): (B, H, W) or (H, W) class-boundary map in [0, 1].
            layout (str): ``'full'``: (B, D, H, W), every source pixel,
                affinity 0 where the destination is outside the image.
                ``'crop'``: (B, D, M), IRN's training layout
                (:meth:`crop_pair_indices`).

        Returns:
            Tensor: Affinities in [0, 1]; a leading batch dim is kept only if
            ``edge`` had one.
        """
        squeeze = edge.dim() == 2
        if squeeze:
            edge = edge[None]
        h, w = edge.shape[-2:]
        m = self.margin
        if layout == 'full':
            # boundary 1 outside the image: pairs leaving it get affinity 0
            # (IRN's propagate_to_edge pads the same way); no top padding is
            # needed since dy >= 0
            padded = F.pad(edge, (m, m, 0, m), value=1.0)
            aff = 1 - self._path_max(padded, 0, m, h, w)
        elif layout == 'crop':
            hc, wc = self.crop_size((h, w))
            aff = 1 - self._path_max(edge, 0, m, hc, wc).flatten(2)
        else:
            raise ValueError(f"layout must be 'full' or 'crop', got {layout}")
        return aff[0] if squeeze else aff

    def to_pair_labels(self, seg: Tensor, num_classes: int = 21,
                       ignore_index: int = 255) -> Tuple[Tensor, Tensor,
                                                         Tensor]:
        """Relation labels of the crop layout from a label map on the grid.

        A pair is *valid* when both ends have a label below ``num_classes``;
        valid pairs of equal labels are positive (split into background, label
        0, and foreground), valid pairs of different labels negative. This is
        IRN's ``GetAffinityLabelFromIndices``.

        Args:
            seg (Tensor): (B, H, W) integer labels (``ignore_index`` or any
                value >= ``num_classes`` is ignored).
            num_classes (int): Number of labels, background 0 included.
            ignore_index (int): Kept for clarity; any label >= num_classes
                is ignored as well.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``bg_pos``, ``fg_pos``, ``neg``
            float (B, D, M) masks.
        """
        seg = seg.long()
        h, w = seg.shape[-2:]
        hc, wc = self.crop_size((h, w))
        m = self.margin
        src = seg[:, None, :hc, m:m + wc]
        dst = torch.stack([
            seg[:, dy:dy + hc, m + dx:m + dx + wc]
            for dy, dx in self.directions.tolist()
        ], dim=1)
        valid_src = (src < num_classes) & (src != ignore_index)
        valid = valid_src & (dst < num_classes) & (dst != ignore_index)
        equal = src == dst
        pos = equal & valid
        bg_pos = pos & (src == 0)
        fg_pos = pos & (src > 0)
        neg = ~equal & valid
        return tuple(t.flatten(2).float() for t in (bg_pos, fg_pos, neg))
