"""Images with their CAM files, for the mask stages run by ``tools/test.py``."""
import os.path as osp
from typing import Any, List, Optional

from mmseg.registry import DATASETS

from mmc2am.cam.cam_file import cam_file_path

from .pseudo_mask_dataset import PseudoMaskDataset

__all__ = ['CAMFileDataset']


@DATASETS.register_module()
class CAMFileDataset(PseudoMaskDataset):
    """VOC-layout images, their CAM files and, where one exists, their mask.

    The dataset of the pseudo-mask stages (CRF confident labels, IRN's
    random walk): per image of ``ann_file`` (train_aug), the image, the CAM
    file ``<cam_dir>/<img_id>.npz`` of the classifier's test run and the
    ground truth ``<seg_map_path>/<img_id>.png`` when that file exists (VOC
    ``train`` in ``SegmentationClass``), so the masks are written for every
    image and scored where they can be. Each data info names the mask file
    to write, ``<out_dir>/<img_id>.png``; when it exists already
    (``mask_done``), the pipeline (``LoadCAMFile``) and the model skip the
    image and the metric reads the mask back, so a killed stage resumes.

    Args:
        ann_file (str): Image ids, relative to ``data_root``.
        cam_dir (str): Folder of the CAM files; relative to the current
            folder (as a work dir), not to ``data_root``.
        out_dir (str): Folder of the masks to write, likewise.
        data_prefix (dict, optional): ``img_path`` and ``seg_map_path`` (the
            ground truth) relative to ``data_root``. Defaults to
            ``JPEGImages`` and ``SegmentationClass``.
        **kwargs: Other ``PascalVOCDataset`` arguments (``data_root``,
            ``pipeline``, ...).

    Raises:
        ValueError: ``cam_dir`` or ``out_dir`` is not set, the split is
            empty.
        FileNotFoundError: Images without a CAM file (how many, the first
            ids).
    """

    def __init__(self,
                 ann_file: str,
                 cam_dir: Optional[str] = None,
                 out_dir: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        for name, value in (('cam_dir', cam_dir), ('out_dir', out_dir)):
            if not value:
                raise ValueError(
                    f'CAMFileDataset needs {name} (--cfg-options '
                    f'test_dataloader.dataset.{name}=...)')
        self.cam_dir = osp.abspath(cam_dir)
        self.out_dir = osp.abspath(out_dir)
        data_prefix = dict(data_prefix or dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'))
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """The image list with the CAM, ground-truth and output paths."""
        data_list = self._image_list()
        for info in data_list:
            info['cam_path'] = cam_file_path(self.cam_dir, info['img_id'])
            info['mask_path'] = osp.join(self.out_dir, f"{info['img_id']}.png")
            if not osp.isfile(info.get('seg_map_path') or ''):
                info['seg_map_path'] = None  # not scored
        self._refuse_missing(data_list, 'cam_path', 'CAM file', self.cam_dir)
        return data_list

    def prepare_data(self, idx: int) -> Any:
        """The pipeline's output for image ``idx``, ``mask_done`` set from
        the output folder as it is now."""
        data = self.get_data_info(idx)
        data['mask_done'] = osp.isfile(data['mask_path'])
        return self._run_pipeline(data)
