"""A batch sampler whose ``batch_size`` is the total over all processes.

IRN and C2AM trained with 16 images per step on however many GPUs they had
(``DataParallel`` splits one batch of 16). mmengine's ``batch_size`` is per
process, so ``tools/dist_train.sh CFG 8`` with ``batch_size=16`` would take
steps of 128 images at the same learning rate. With this batch sampler the
config states the reference's total batch once and every launch keeps it::

    train_dataloader = dict(
        batch_size=16,  # total over all processes
        batch_sampler=dict(type='TotalBatchSampler', drop_last=True),
        sampler=dict(type='DefaultSampler', shuffle=True), ...)

Keeping the total (rather than mmengine's ``auto_scale_lr``, which scales the
learning rate with a larger total batch) is what reproduces the published
schedule: same images per step, same number of steps per epoch, same lr.
"""
from typing import Optional

from mmengine.dist import get_world_size
from mmengine.logging import print_log
from torch.utils.data import BatchSampler, Sampler

from mmc2am.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class TotalBatchSampler(BatchSampler):
    """``BatchSampler`` with ``batch_size // world_size`` images per process.

    The sampler (mmengine's ``DefaultSampler``) already gives each process
    its shard of the dataset; batching it by ``batch_size / world_size``
    makes every step take ``batch_size`` images in total.

    Args:
        sampler (Sampler): This process's sampler (mmengine passes it).
        batch_size (int): Total images per step over all processes
            (the dataloader's ``batch_size``; mmengine passes it).
        drop_last (bool): Drop the last incomplete batch, as IRN's loader.
            Defaults to False.
        world_size (int, optional): Number of processes. None reads it from
            ``mmengine.dist.get_world_size()`` (1 when not distributed).

    Raises:
        ValueError: ``batch_size`` is not a positive multiple of the number of
            processes.
    """

    def __init__(self,
                 sampler: Sampler,
                 batch_size: int,
                 drop_last: bool = False,
                 world_size: Optional[int] = None) -> None:
        if world_size is None:
            world_size = get_world_size()
        if batch_size <= 0 or batch_size % world_size:
            raise ValueError(
                f'TotalBatchSampler: total batch_size={batch_size} does not '
                f'divide over {world_size} processes; set '
                'train_dataloader.batch_size to a multiple of the number of '
                'GPUs (the reference trained with 16 in total)')
        self.total_batch_size = batch_size
        self.world_size = world_size
        super().__init__(sampler, batch_size // world_size, drop_last)
        print_log(
            f'TotalBatchSampler: {self.batch_size} images per process x '
            f'{world_size} processes = {batch_size} per step',
            logger='current')


__all__ = ['TotalBatchSampler']
