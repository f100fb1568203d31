"""Set W-OoD's class and OoD centres before training (issue 26).

W-OoD's reference computes them once, with the start model in eval mode,
before its first step (``step/train_cam_clustering.py`` line 330,
``get_sample_estimator``): the class centres are the mean GAP features of
the training images of each class (at their original size, no
augmentation), the OoD centres the k-means centres (K = 50 for VOC's some
10k OpenImages OoD images) of the OoD images' GAP features.

Here the OoD images are the erase negatives of the training pipeline
(:class:`~mmc2am.datasets.transforms.EraseObjects`): they exist only as
batches of the train dataloader, where a random share of the images lose
their objects and label. So the hook takes one pass over the train
dataloader itself, as the epoch that starts would see it: it first runs the
``before_train_epoch`` of the runner's ``DistSamplerSeedHook`` (the
sampler's order of that epoch) and ``EpochSeedHook`` (the augmentation
seeds of that epoch; the configs' default runtime has it), so the pass gets
exactly the batches of the first epoch (the same erase draws, crops and
flips) and the OoD centres are those of the erase negatives that epoch
trains on. The random states the pass consumed are restored after it, so
the training draws what it would without this hook (with an
``EpochSeedHook``, which reseeds every epoch, it would anyway): the run
stays paired with ``cam_r18_gen_erase.py`` at the same seed. The
reference's augmentation-free pass would need a second pipeline with
EraseObjects at probability 1 and is not done.
"""
import random
from typing import List, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather_object
from mmengine.hooks import DistSamplerSeedHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch import Tensor

from mmc2am.models.losses.wood_distance_loss import class_centres, kmeans
from mmc2am.registry import HOOKS

from .epoch_seed_hook import EpochSeedHook

__all__ = ['WOoDCentresHook']


@HOOKS.register_module()
class WOoDCentresHook(Hook):
    """Set ``model.distance_loss``'s centres from one pass of the start
    model over the train dataloader.

    ``before_train`` (after ``load_from`` / resume have loaded the
    weights): the model in eval mode and without gradient takes each batch
    of one pass over ``runner.train_dataloader``, seeded as the first epoch
    (the ``before_train_epoch`` of the runner's ``DistSamplerSeedHook`` and
    ``EpochSeedHook``; Python's, numpy's and torch's CPU random states
    restored after, see the module docstring); the GAP features of the last stage
    (``model.gap_features``) of the images with a label give the (C, D)
    class centres (:func:`class_centres`), those of the images with an
    empty label (the erase negatives) the (K, D) OoD centres
    (:func:`kmeans`, K = ``num_clusters``). In a distributed run the
    features of all ranks are gathered (``all_gather_object``), so every
    rank sets the same centres. The model goes back to train mode.

    The centres are not saved in checkpoints: a resumed run recomputes them
    with the resumed weights (the reference has no resume).

    Args:
        num_clusters (int): K, the OoD clusters. Defaults to 10 (the
            reference: 50 clusters of some 10k OoD images; an erase pass
            of the generated data gives about 70 negatives).
        kmeans_iters (int): Rounds of Lloyd's algorithm. Defaults to the
            reference's 10.

    Raises:
        ValueError: ``num_clusters`` < 1.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, num_clusters: int = 10, kmeans_iters: int = 10) -> None:
        if int(num_clusters) != num_clusters or num_clusters < 1:
            raise ValueError(f'num_clusters must be an int >= 1, got '
                             f'{num_clusters}')
        self.num_clusters = int(num_clusters)
        self.kmeans_iters = int(kmeans_iters)

    @staticmethod
    def _model(runner: Runner) -> torch.nn.Module:
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        if not hasattr(model, 'distance_loss') or not hasattr(
                model, 'gap_features'):
            raise TypeError(f'WOoDCentresHook needs a WOoDClassifier, got '
                            f'{type(model).__name__}')
        return model

    def compute_centres(self, feats: Tensor,
                        labels: Tensor) -> Tuple[Tensor, Tensor, List[int]]:
        """The centres of the features of one pass.

        Args:
            feats (Tensor): (N, D) GAP features.
            labels (Tensor): (N, C) multi-hot labels; an all-zero row is an
                OoD image.

        Returns:
            tuple: (C, D) class centres of the labelled rows, (K, D) k-means
            centres of the OoD rows, and the K cluster sizes.

        Raises:
            ValueError: Fewer OoD images than clusters.
        """
        ood = labels.sum(1) == 0
        num_ood = int(ood.sum())
        if num_ood < self.num_clusters:
            raise ValueError(
                f'WOoDCentresHook: {num_ood} OoD images (empty labels: the '
                f'erase negatives) in the pass for num_clusters='
                f'{self.num_clusters}; raise EraseObjects\' prob, check its '
                'mask_dir, or lower num_clusters')
        centres = class_centres(feats[~ood], labels[~ood])
        x = feats[ood]
        ood_centres = kmeans(x, self.num_clusters, self.kmeans_iters)
        assign = torch.cdist(x, ood_centres).argmin(dim=1)
        sizes = torch.bincount(assign, minlength=self.num_clusters).tolist()
        return centres, ood_centres, sizes

    @torch.no_grad()
    def collect(self, runner: Runner) -> Tuple[Tensor, Tensor]:
        """(N, D) GAP features and (N, C) labels of one pass over the train
        dataloader, gathered over the ranks (on the CPU)."""
        model = self._model(runner)
        feats, labels = [], []
        states = (random.getstate(), np.random.get_state(),
                  torch.get_rng_state())
        was_training = model.training
        model.eval()
        try:
            # the epoch's sampler order and augmentation seeds: the pass
            # sees the batches the epoch that starts will see
            for hook in runner.hooks:
                if isinstance(hook, (DistSamplerSeedHook, EpochSeedHook)):
                    hook.before_train_epoch(runner)
            for data in runner.train_dataloader:
                data = model.data_preprocessor(data, False)
                samples = data['data_samples']
                feats.append(model.gap_features(
                    model.extract_feat(data['inputs'])).float().cpu())
                labels.append(model.head.targets(samples).float().cpu())
        finally:
            model.train(was_training)
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
        mine = (torch.cat(feats), torch.cat(labels)) if feats else None
        parts = [p for p in all_gather_object(mine) if p is not None]
        if not parts:
            raise RuntimeError('WOoDCentresHook: the train dataloader gave '
                               'no batch')
        return (torch.cat([p[0] for p in parts]),
                torch.cat([p[1] for p in parts]))

    def before_train(self, runner: Runner) -> None:
        model = self._model(runner)
        feats, labels = self.collect(runner)
        centres, ood_centres, sizes = self.compute_centres(feats, labels)
        device = next(model.parameters()).device
        model.distance_loss.set_centres(centres.to(device),
                                        ood_centres.to(device))
        num_ood = int((labels.sum(1) == 0).sum())
        runner.logger.info(
            f'WOoDCentresHook: {labels.shape[0] - num_ood} ID and {num_ood} '
            f'OoD images; {centres.shape[0]} class centres (images per '
            f'class {labels.sum(0).long().tolist()}), {self.num_clusters} '
            f'OoD clusters of sizes {sizes}')
