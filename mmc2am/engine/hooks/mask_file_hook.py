"""Write the pseudo-masks of a mask stage as PNG files; resume from them."""
import numpy as np
import torch
from mmengine.structures import PixelData

from mmc2am.registry import HOOKS
from mmc2am.utils.mask_files import (
    check_mask_params,
    load_label_png,
    save_label_png,
)

from .per_image_file_hook import PerImageFileHook

__all__ = ['MaskFileHook', 'PARAMS_FILE']

# the settings the masks of a folder were made with
PARAMS_FILE = '.mask_params.json'


@HOOKS.register_module()
class MaskFileHook(PerImageFileHook):
    """One pseudo-mask PNG per test image of a mask stage, resumable.

    The mask stages (CRF confident labels, IRN's random walk) are
    ``tools/test.py`` runs on :class:`mmc2am.datasets.CAMFileDataset`; the
    model predicts ``pred_sem_seg`` and
    :class:`mmc2am.evaluation.PseudoMaskMetric` scores it. This hook writes
    the masks as :class:`CAMFileHook` writes CAM files
    (:class:`PerImageFileHook`):

    - before the test, it gives the dataset the folder (its
      ``mask_out_dir``): an image whose ``<out_dir>/<img_id>.png`` exists
      is loaded as ``mask_done``, without its CAM file, and the model skips
      it. It also
      records the model's settings (its ``mask_params``) and the CAM folder
      in ``<out_dir>/.mask_params.json``, or refuses to run when the folder
      holds masks made with other ones;
    - before a batch, it reads the finished masks into ``pred_sem_seg``, so
      the metric scores every image;
    - after a batch, it writes the new masks as VOC palette PNGs
      (atomically: an existing PNG is a complete one).

    Registered in mmengine's root ``HOOKS``. In a config (``--cfg-options
    default_hooks.mask_file.out_dir=...`` to write elsewhere)::

        default_hooks = dict(mask_file=dict(type='MaskFileHook'))

    It does nothing in a test whose dataset takes no mask folder (one
    without a ``mask_out_dir`` attribute). Every rank writes the masks of
    its own images.

    Args:
        out_dir (str, optional): Folder of the masks. Defaults to
            ``<work_dir>/masks``.
    """

    folder_name = 'masks'
    what = 'pseudo-masks'

    def active(self, runner) -> bool:
        """A mask stage: the test dataset takes the mask folder."""
        return hasattr(runner.test_dataloader.dataset, 'mask_out_dir')

    def before_test(self, runner) -> None:
        super().before_test(runner)
        if self._dir is None:
            return
        dataset = runner.test_dataloader.dataset
        # Set before the loop starts the loader's worker processes, which
        # take their copy of the dataset then.
        dataset.mask_out_dir = self._dir
        # Skipping finished masks is only right if they were made the same
        # way: the settings are checked before anything is made.
        params = dict(getattr(self.unwrapped_model(runner), 'mask_params',
                              None) or {})
        if getattr(dataset, 'cam_dir', None):
            params['cam_dir'] = dataset.cam_dir
        check_mask_params(self._dir, PARAMS_FILE, params)

    def read_finished(self, sample) -> None:
        """The mask of a ``mask_done`` image as its ``pred_sem_seg``."""
        if sample.metainfo.get('mask_done', False):
            # a writable copy: PIL's array is read-only
            mask = np.array(load_label_png(sample.mask_path))
            sample.pred_sem_seg = PixelData(data=torch.from_numpy(mask)[None])

    def write(self, sample) -> None:
        """The PNG of a mask made in this run."""
        if 'mask_path' not in sample or sample.get('mask_done', False):
            return
        mask = sample.pred_sem_seg.data.cpu().numpy().astype(np.uint8)
        save_label_png(sample.mask_path, mask.reshape(mask.shape[-2:]))
