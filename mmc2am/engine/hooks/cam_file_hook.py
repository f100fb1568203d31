"""Write the CAMs of a classifier's test run as CAM files; resume from them."""
import logging
import os.path as osp
from typing import Optional, Tuple

import torch
from mmengine.logging import print_log

from mmc2am.cam.cam_file import cam_file_path, load_cam_file, save_cam_file
from mmc2am.cam.cam_inference import sample_keys
from mmc2am.cam.multi_scale import cam_sizes
from mmc2am.registry import HOOKS

from .per_image_file_hook import PerImageFileHook

__all__ = ['CAMFileHook']


def _img_id(sample) -> str:
    """``img_id`` of a data sample, else the stem of its ``img_path``."""
    img_id = sample.get('img_id', None)
    if img_id is None:
        img_path = sample.get('img_path', None)
        if img_path is None:
            raise KeyError('CAM files need an img_id or img_path per sample')
        img_id = osp.splitext(osp.basename(img_path))[0]
    return str(img_id)


@HOOKS.register_module()
class CAMFileHook(PerImageFileHook):
    """One CAM file per test image (:mod:`mmc2am.cam.cam_file`), resumable.

    The model returns the CAMs in its data samples (``CAMClassifier`` in
    ``test_cfg.mode='cam'``: ``cam_keys``, ``cam``, ``high_res_cam``); this
    hook writes each image's file after its batch (``after_test_iter``,
    atomically) and, before a batch (``before_test_iter``), puts the CAMs of
    images whose file exists (same classes, same size) into their data
    samples, so the model does not recompute them: a killed test run,
    started again, continues where it stopped. CAMs read back carry the
    files' float16 rounding (at most 2^-12 on [0, 1]). The pseudo-masks
    made from these files are written the same way
    (:class:`MaskFileHook`, :class:`PerImageFileHook`).

    Registered in mmengine's root ``HOOKS``. In a config (a dict key, so it
    merges through ``_base_`` and is set with ``--cfg-options
    default_hooks.cam_file.out_dir=...``)::

        default_hooks = dict(cam_file=dict(type='CAMFileHook'))

    Every rank writes the files of its own images. At the end of the run,
    each rank warns with the count of its images whose CAMs are all zero
    (an undertrained classifier: their pseudo-masks are all background).

    Args:
        out_dir (str, optional): Folder of the CAM files. Defaults to
            ``<work_dir>/cams``.
        overwrite (bool): Recompute and rewrite existing files.
    """

    folder_name = 'cams'
    what = 'CAM files'
    tmp_glob = '.*.npz.*.tmp'

    def __init__(self, out_dir: Optional[str] = None,
                 overwrite: bool = False) -> None:
        super().__init__(out_dir)
        self.overwrite = overwrite
        self._num_images = 0
        self._all_zero: list = []

    def before_test(self, runner) -> None:
        super().before_test(runner)
        self._num_images = 0
        self._all_zero = []

    def active(self, runner) -> bool:
        """A CAM test run; a classification test has no CAMs to write."""
        model = self.unwrapped_model(runner)
        return (getattr(model, 'test_cfg', None) or {}).get('mode') == 'cam'

    def read_finished(self, sample) -> None:
        """The CAMs of the image's file, if it matches this run (same
        classes, same size), as the sample's ``cam`` / ``high_res_cam``."""
        if self.overwrite:
            return
        h, w = (int(v) for v in sample.img_shape[:2])
        path = cam_file_path(self._dir, _img_id(sample))
        saved = self._load_matching(path, sample_keys(sample), (h, w))
        if saved is not None:
            sample.set_metainfo(dict(cam_keys=saved['keys'],
                                     cam_from_file=True))
            sample.set_field(saved['cam'], 'cam')
            sample.set_field(saved['high_res'], 'high_res_cam')

    @staticmethod
    def _load_matching(path: str, keys: torch.Tensor,
                       size: Tuple[int, int]) -> Optional[dict]:
        """The CAMs of a finished file, or None if missing or stale."""
        if not osp.exists(path):
            return None
        try:
            saved = load_cam_file(path)
        except ValueError as e:
            print_log(f'CAMFileHook: recomputing {path}: {e}', 'current')
            return None
        strided_size, _ = cam_sizes(*size)
        if ('high_res' not in saved
                or saved['keys'].tolist() != keys.tolist()
                or tuple(saved['high_res'].shape[1:]) != tuple(size)
                or tuple(saved['cam'].shape[1:]) != strided_size):
            print_log(f'CAMFileHook: recomputing {path}: classes or size '
                      'differ from this run', 'current')
            return None
        return {k: torch.from_numpy(v) for k, v in saved.items()}

    def write(self, sample) -> None:
        """The CAM file of a sample whose CAMs were computed in this run."""
        self._count(sample)
        if sample.get('cam_from_file', False) or \
                sample.get('high_res_cam', None) is None:
            return
        save_cam_file(
            cam_file_path(self._dir, _img_id(sample)),
            torch.as_tensor(sample.cam_keys).numpy(),
            sample.cam.cpu().numpy(), sample.high_res_cam.cpu().numpy())

    def _count(self, sample) -> None:
        """Count the image, and those with classes but all-zero CAMs."""
        cam = sample.get('cam', None)
        if cam is None:
            return
        self._num_images += 1
        if cam.numel() and not bool(cam.any()):
            self._all_zero.append(_img_id(sample))

    def after_test_epoch(self, runner, metrics=None) -> None:
        super().after_test_epoch(runner, metrics)
        if self._dir is None or not self._all_zero:
            return
        names = ', '.join(self._all_zero[:5])
        more = ', ...' if len(self._all_zero) > 5 else ''
        print_log(
            f'CAMFileHook: {len(self._all_zero)} of the {self._num_images} '
            f'images of this process have all-zero CAMs ({names}{more}); '
            f'their CAM files in {self._dir} give all-background masks: is '
            'the classifier trained?', logger='current',
            level=logging.WARNING)
