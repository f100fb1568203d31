"""Images with their CAM files, for the mask stages run by ``tools/test.py``."""
import os.path as osp
from typing import Any, List, Optional

from mmc2am.cam.cam_file import cam_file_path
from mmc2am.registry import DATASETS

from .pseudo_mask_dataset import PseudoMaskDataset

__all__ = ['CAMFileDataset']


@DATASETS.register_module()
class CAMFileDataset(PseudoMaskDataset):
    """VOC-layout images, their CAM files and, where one exists, their mask.

    The dataset of the pseudo-mask stages (CRF confident labels, IRN's
    random walk): per image of ``ann_file`` (train_aug), the image, the CAM
    file ``<cam_dir>/<img_id>.npz`` of the classifier's test run and the
    ground truth ``<seg_map_path>/<img_id>.png`` when that file exists (VOC
    ``train`` in ``SegmentationClass``), so the masks are made for every
    image and scored where they can be.

    Where the masks go is not the dataset's setting but the
    :class:`mmc2am.engine.MaskFileHook`'s (``<work_dir>/masks`` by
    default), which sets ``mask_out_dir`` before the test. With it set,
    each data info names its mask file ``<mask_out_dir>/<img_id>.png``
    (``mask_path``); when that file exists already (``mask_done``, checked
    as the image is loaded), the pipeline (``LoadCAMFile``) does not read
    the CAM file and the model skips the image, so a killed stage resumes.

    Args:
        ann_file (str): Image ids, relative to ``data_root``.
        cam_dir (str): Folder of the CAM files; relative to the current
            folder (as a work dir), not to ``data_root``.
        data_prefix (dict, optional): ``img_path`` and ``seg_map_path`` (the
            ground truth) relative to ``data_root``. Defaults to
            ``JPEGImages`` and ``SegmentationClass``.
        **kwargs: Other ``PascalVOCDataset`` arguments (``data_root``,
            ``pipeline``, ...).

    Raises:
        ValueError: ``cam_dir`` is not set, the split is empty, or the
            former ``out_dir`` argument is given (the message names the
            hook's option).
        FileNotFoundError: Images without a CAM file (how many, the first
            ids).
    """

    def __init__(self,
                 ann_file: str,
                 cam_dir: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        if not cam_dir:
            raise ValueError('CAMFileDataset needs cam_dir (--cfg-options '
                             'test_dataloader.dataset.cam_dir=...)')
        if 'out_dir' in kwargs:
            # configs and command lines written before MaskFileHook
            raise ValueError(
                'CAMFileDataset takes no out_dir: the masks go to '
                '<work_dir>/masks, or to --cfg-options '
                'default_hooks.mask_file.out_dir=... (MaskFileHook)')
        self.cam_dir = osp.abspath(cam_dir)
        # the folder of the masks, set by MaskFileHook before the test
        self.mask_out_dir: Optional[str] = None
        data_prefix = dict(data_prefix or dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'))
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """The image list with the CAM and ground-truth paths."""
        data_list = self._image_list()
        for info in data_list:
            info['cam_path'] = cam_file_path(self.cam_dir, info['img_id'])
            if not osp.isfile(info.get('seg_map_path') or ''):
                info['seg_map_path'] = None  # not scored
        self._refuse_missing(data_list, 'cam_path', 'CAM file', self.cam_dir)
        return data_list

    def prepare_data(self, idx: int) -> Any:
        """The pipeline's output for image ``idx``; with ``mask_out_dir``
        set, its ``mask_path`` and ``mask_done`` (the file exists now)."""
        data = self.get_data_info(idx)
        if self.mask_out_dir is not None:
            data['mask_path'] = osp.join(self.mask_out_dir,
                                         f"{data['img_id']}.png")
            data['mask_done'] = osp.isfile(data['mask_path'])
        return self._run_pipeline(data)
