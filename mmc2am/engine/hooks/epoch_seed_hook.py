"""Reseed the global RNGs at every training epoch, so a resumed run matches.

mmengine seeds ``random``, ``numpy`` and ``torch`` once, when the runner is
built. The training transforms (``RandomResize``, ``RandomFlip``,
``RandomCrop``) draw from those global generators, so with ``num_workers=0``
the augmentations of epoch ``e`` depend on every draw of epochs ``0..e-1``.
``--resume`` restores the weights, optimizer, schedulers, message hub and the
sampler order (``DefaultSampler`` shuffles with ``seed + epoch``), but not the
generators: a resumed run starts its epoch from the freshly seeded state and
draws other crops and flips than the uninterrupted run. Reseeding from
``(seed, epoch)`` before each epoch makes every epoch's draws a function of
the epoch alone.
"""
import numpy as np
from mmengine.hooks import Hook
from mmengine.runner import Runner, set_random_seed

from mmc2am.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` of a run seeded with ``seed``.

    ``numpy.random.SeedSequence`` mixes the pair, so (seed 0, epoch 1) and
    (seed 1, epoch 0) get unrelated streams (``seed + epoch`` would not).

    Args:
        seed (int): The run's seed (``runner.seed``, rank already added when
            ``randomness.diff_rank_seed`` is set). Non-negative.
        epoch (int): 0-based epoch index.

    Returns:
        int: A seed in ``[0, 2**32)`` (numpy's limit).
    """
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed ``random``, ``numpy`` and ``torch`` from ``(runner.seed, epoch)``.

    Runs at ``before_train_epoch``, before the epoch's data iterator is
    created, through :func:`mmengine.runner.set_random_seed`. With
    ``num_workers=0`` every random draw of an epoch (augmentations, the
    loader's base seed, any dropout) is then the same in an uninterrupted run
    and in one resumed from the previous epoch's checkpoint.

    Not covered, by construction: worker processes. Non-persistent workers
    are reseeded by mmengine's ``worker_init_fn`` with the same seed every
    epoch, so they are resume-safe already; persistent workers
    (``persistent_workers=True``, ``num_workers > 0``) carry their
    generators across epochs and a resumed run draws differently; the hook
    warns when it sees a resumed run with such a loader.
    """

    # First among the epoch hooks, so any hook that draws at
    # before_train_epoch draws from the reseeded state.
    priority = 'VERY_HIGH'

    def before_train(self, runner: Runner) -> None:
        loader = runner.train_dataloader
        # load_or_resume() runs before the loop's before_train: a resumed
        # run already holds its restored counter here.
        if (runner.iter > 0 and getattr(loader, 'num_workers', 0) > 0
                and getattr(loader, 'persistent_workers', False)):
            runner.logger.warning(
                'EpochSeedHook: train_dataloader has persistent workers; '
                'their random state is not restored on resume, so the '
                'augmentations differ from an uninterrupted run '
                '(num_workers=0 or persistent_workers=False avoids it)')

    def before_train_epoch(self, runner: Runner) -> None:
        set_random_seed(epoch_seed(runner.seed, runner.epoch))


__all__ = ['EpochSeedHook', 'epoch_seed']
