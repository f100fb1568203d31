"""Base of the hooks that fill a head buffer from a pass over the train set."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner


class HeadBufferHook(Hook):
    """Compute a head buffer before training and every ``interval`` steps.

    The shared plumbing of :class:`GlobalCAMHook` (C2AM's global CAM) and
    :class:`ConfounderSetHook` (CONTA's confounder set): a subclass implements
    ``before_train`` (restore or compute) and ``compute(runner)`` (one pass
    that sets the buffer), and names the head method that takes the buffer
    (``head_setter``) and the head that has it (``head_kind``, for the
    error). This base recomputes after every ``interval`` epochs
    (``by_epoch``) or iterations, never after the last one (the buffer would
    not be used again), and finds the head under a DDP / FSDP wrapper.

    Args:
        interval (int): Recompute every ``interval`` epochs (iterations with
            ``by_epoch=False``); 0 = only before training.
        by_epoch (bool): Unit of ``interval``.

    Raises:
        ValueError: ``interval`` < 0.
    """

    priority = 'ABOVE_NORMAL'
    head_setter = ''  # the head method that takes the buffer
    head_kind = ''  # the head class that has it, for the error

    def __init__(self, interval: int = 0, by_epoch: bool = True) -> None:
        if interval < 0:
            raise ValueError('interval must be >= 0')
        self.interval = interval
        self.by_epoch = by_epoch

    def compute(self, runner: Runner):
        raise NotImplementedError

    def after_train_epoch(self, runner: Runner) -> None:
        if (self.interval and self.by_epoch
                and self.every_n_epochs(runner, self.interval)
                and not self.is_last_train_epoch(runner)):
            self.compute(runner)

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if (self.interval and not self.by_epoch
                and self.every_n_train_iters(runner, self.interval)
                and not self.is_last_train_iter(runner)):
            self.compute(runner)

    @staticmethod
    def _model(runner: Runner) -> torch.nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _head(self, runner: Runner):
        head = getattr(self._model(runner), 'head', None)
        if head is None or not hasattr(head, self.head_setter):
            raise TypeError(
                f'{type(self).__name__} needs a model whose head has a '
                f'{self.head_setter} method ({self.head_kind})')
        return head
