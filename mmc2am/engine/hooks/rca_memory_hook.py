"""RCA's memory clustering: k-means of each class queue once per epoch.

RCA (maeve07/RCA ``models/rca.py:104-110``) replaces, at the first step of
every epoch but the first, each class's ``M`` centres by the k-means centres
(scikit-learn's ``KMeans(n_clusters=10)``) of that class's memory queue; the
centres are what :class:`~mmc2am.models.heads.RCAHead` aggregates over.
This hook does the same after every ``interval``-th training epoch except the
last (the next epoch is the first to use them, and the checkpoint of the
epoch, written by ``CheckpointHook`` after this hook, holds them), and tells
the head which epoch runs (``head.epoch``, for the InfoNCE's start epoch).

k-means: scikit-learn (the reference's) is not a dependency of this project;
SciPy is (mmsegmentation requires it), so the library k-means is
``scipy.cluster.vq.kmeans2`` with k-means++ initialisation, run ``n_init``
times from a generator seeded by ``(seed, epoch, class)`` and the run of the
lowest inertia kept (scikit-learn's ``n_init`` rule), ``max_iter`` Lloyd
iterations each. Only filled slots enter (all of them with the reference's
N(0, 1) queues); a class with fewer filled slots than ``M`` keeps its
centres.

Distributed: each process writes its own batches into its own queues (as
the reference's ``DataParallel`` kept only the first GPU's writes). The hook
gathers every process's filled entries, runs the k-means on rank 0 and
broadcasts the centres, so every process aggregates over the same centres.
"""
import time
from typing import Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather, broadcast, get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from scipy.cluster.vq import kmeans2

from mmc2am.registry import HOOKS

DATA_BATCH = Optional[dict]


def kmeans(data: np.ndarray, k: int, n_init: int, max_iter: int,
           rng: np.random.Generator) -> Tuple[np.ndarray, float]:
    """Best of ``n_init`` k-means++ / Lloyd runs of ``scipy``'s ``kmeans2``.

    Args:
        data (np.ndarray): (n, K) points, n >= k.
        k (int): Number of centres.
        n_init (int): Runs; the one of the lowest inertia is kept.
        max_iter (int): Lloyd iterations per run.
        rng (np.random.Generator): Source of the k-means++ draws.

    Returns:
        tuple[np.ndarray, float]: (k, K) centres and their inertia (sum of
        squared distances of the points to their nearest centre).
    """
    data = np.asarray(data, dtype=np.float64)
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        centres, labels = kmeans2(
            data, k, iter=max_iter, minit='++', missing='warn', rng=rng)
        inertia = float(((data - centres[labels])**2).sum())
        if inertia < best_inertia:
            best, best_inertia = centres, inertia
    return best, best_inertia


@HOOKS.register_module()
class RCAMemoryHook(Hook):
    """Cluster :class:`RCAHead`'s queues into its centres every epoch.

    Args:
        interval (int): Cluster after every ``interval`` training epochs
            (never after the last). Defaults to 1 (the reference).
        n_init (int): k-means runs per class. Defaults to 10
            (scikit-learn's ``KMeans`` default when the reference was
            written).
        max_iter (int): Lloyd iterations per run. Defaults to 100.
        seed (int): Seed of the k-means draws (with the epoch and the
            class). Defaults to 0.
        cluster_before_train (bool): Also cluster before the first epoch
            (the reference starts from N(0, 1) centres). Defaults to False.
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook saves the epoch

    def __init__(self,
                 interval: int = 1,
                 n_init: int = 10,
                 max_iter: int = 100,
                 seed: int = 0,
                 cluster_before_train: bool = False) -> None:
        if interval <= 0 or n_init <= 0 or max_iter <= 0:
            raise ValueError('interval, n_init and max_iter must be > 0')
        self.interval = interval
        self.n_init = n_init
        self.max_iter = max_iter
        self.seed = seed
        self.cluster_before_train = cluster_before_train
        self.num_passes = 0

    @staticmethod
    def _head(runner: Runner):
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        head = getattr(model, 'head', None)
        if head is None or not hasattr(head, 'set_centres'):
            raise TypeError('RCAMemoryHook needs a model whose head has a '
                            'set_centres method (RCAHead)')
        return head

    def before_train(self, runner: Runner) -> None:
        self._head(runner)  # fail early on a wrong head
        if self.cluster_before_train:
            self.cluster(runner)

    def before_train_epoch(self, runner: Runner) -> None:
        self._head(runner).epoch = runner.epoch

    def after_train_epoch(self, runner: Runner) -> None:
        if (self.every_n_epochs(runner, self.interval)
                and not self.is_last_train_epoch(runner)):
            self.cluster(runner)

    @torch.no_grad()
    def cluster(self, runner: Runner) -> torch.Tensor:
        """Gather the queues, k-means them on rank 0, set every rank's
        centres.

        Returns:
            Tensor: The (C, M, K) centres set.
        """
        head = self._head(runner)
        start = time.perf_counter()
        queues = all_gather(head.queue)  # per rank (C, L, K)
        filled = all_gather(head.queue_filled.to(torch.uint8))
        centres = head.centres.detach().clone()
        counts = []
        if get_rank() == 0:
            queue = torch.cat(queues, dim=1).cpu().double().numpy()
            mask = torch.cat(filled, dim=1).cpu().numpy().astype(bool)
            for c in range(head.num_classes):
                data = queue[c][mask[c]]
                counts.append(len(data))
                if len(data) < head.num_centres:
                    continue
                rng = np.random.default_rng(
                    (self.seed, int(runner.epoch), c))
                g, _ = kmeans(data, head.num_centres, self.n_init,
                              self.max_iter, rng)
                centres[c] = torch.from_numpy(g).to(centres)
        broadcast(centres, src=0)
        head.set_centres(centres)
        self.num_passes += 1
        if get_rank() == 0:
            kept = [c for c, n in enumerate(counts) if n < head.num_centres]
            runner.logger.info(
                f'RCAMemoryHook: k-means of the queues after epoch '
                f'{runner.epoch + 1} ({time.perf_counter() - start:.1f} s); '
                f'entries per class {counts}; classes with fewer than '
                f'{head.num_centres} entries keep their centres: {kept}')
        return centres


__all__ = ['RCAMemoryHook', 'kmeans']
