"""Base of the hooks that write one file per test image and resume from them."""
import glob
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch import nn

__all__ = ['PerImageFileHook']


class PerImageFileHook(Hook):
    """One file per test image in an output folder, a rerun resuming.

    The mechanism shared by :class:`CAMFileHook` (CAM files) and
    :class:`MaskFileHook` (pseudo-masks): the folder is ``out_dir``, by
    default ``<work_dir>/<folder_name>``, set by one config key
    (``default_hooks.<key>.out_dir``); before each batch the files that
    exist are put into their data samples (``read_finished``), so the model
    skips those images; after the batch the new ones are written
    atomically (``write``, :func:`mmc2am.utils.atomic_open`), so a killed
    test run, started again, continues where it stopped. After the test the
    temporaries of writes killed in an earlier run are removed.

    A subclass sets ``folder_name``, ``what`` (for the log) and
    ``tmp_glob`` (its temporaries) and implements ``active(runner)``
    (whether this test run has files to write), ``read_finished(sample)``
    and ``write(sample)``. Every rank writes the files of its own images.

    Args:
        out_dir (str, optional): The folder. Defaults to
            ``<work_dir>/<folder_name>``.
    """

    priority = 'NORMAL'
    folder_name = ''
    what = 'files'
    tmp_glob = '.*.tmp'

    def __init__(self, out_dir: Optional[str] = None) -> None:
        self.out_dir = out_dir
        self._dir: Optional[str] = None

    @staticmethod
    def unwrapped_model(runner: Runner) -> nn.Module:
        """The runner's model without its DDP / FSDP wrapper."""
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def active(self, runner: Runner) -> bool:
        """Whether this test run has files to write."""
        raise NotImplementedError

    def read_finished(self, sample) -> None:
        """Put the finished file of an input data sample into it."""
        raise NotImplementedError

    def write(self, sample) -> None:
        """Write the file of an output data sample, unless it is finished."""
        raise NotImplementedError

    def before_test(self, runner: Runner) -> None:
        self._dir = osp.abspath(
            self.out_dir or osp.join(runner.work_dir, self.folder_name)
        ) if self.active(runner) else None
        if self._dir is not None:
            print_log(f'{self.what}: {self._dir}', 'current')

    def before_test_iter(self, runner: Runner, batch_idx: int,
                         data_batch: Optional[dict] = None) -> None:
        if self._dir is None or not data_batch:
            return
        for sample in data_batch.get('data_samples', []):
            self.read_finished(sample)

    def after_test_iter(self, runner: Runner, batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        if self._dir is None:
            return
        for sample in outputs or []:
            self.write(sample)

    def after_test_epoch(self, runner: Runner, metrics=None) -> None:
        # Temporaries of writes killed in an earlier run; every rank has
        # finished writing once the metrics are computed.
        if self._dir is None or not is_main_process():
            return
        for tmp in glob.glob(osp.join(self._dir, self.tmp_glob)):
            try:
                os.remove(tmp)
            except FileNotFoundError:
                pass
