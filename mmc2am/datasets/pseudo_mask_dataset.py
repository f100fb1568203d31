"""PASCAL VOC images with pseudo-masks as the segmentation ground truth."""
import os.path as osp
from typing import Any, List, Optional

from mmcv.transforms import LoadImageFromFile
from mmseg.datasets import PascalVOCDataset

from mmc2am.registry import DATASETS
from mmc2am.utils.mask_files import check_label_values, first_ids


@DATASETS.register_module()
class PseudoMaskDataset(PascalVOCDataset):
    """VOC-layout images plus a folder of pseudo-masks (``<img_id>.png``).

    A drop-in for mmseg's ``PascalVOCDataset`` in the training split of any
    stock VOC config: the same 21 classes and palette, 255 ignored (mmseg's
    default ``ignore_index``), only the masks come from ``mask_dir``, e.g. the
    masks of the CRF or random-walk stage (``configs/crf/``,
    ``configs/irn/``: ``work_dirs/<config name>/masks``).

    Each mask is checked as soon as the pipeline has loaded it (one
    ``max`` over the array): a value that is neither a class nor
    ``ignore_index`` raises an error naming the file, instead of an
    ``IndexError`` deep in the loss. An image that does not decode raises a
    ``ValueError`` naming it (mmcv's loader gives an unnamed ``cv2.error``
    or an ``AssertionError``).

    Args:
        ann_file (str): Image ids, one per line (e.g.
            ``ImageSets/Segmentation/trainaug.txt``), relative to
            ``data_root``.
        mask_dir (str, optional): Folder of the pseudo-masks. Unlike
            ``data_prefix``, a relative path is taken from the current folder
            (as ``work_dir`` is), not from ``data_root``, since pseudo-masks
            live in a work dir, not in the dataset. If None,
            ``data_prefix['seg_map_path']`` is used as in mmseg.
        data_prefix (dict, optional): ``img_path`` (and, without ``mask_dir``,
            ``seg_map_path``) relative to ``data_root``. Defaults to
            ``dict(img_path='JPEGImages')``.
        **kwargs: Other ``PascalVOCDataset`` / ``BaseSegDataset`` arguments.
    """

    def __init__(self,
                 ann_file: str,
                 mask_dir: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        data_prefix = dict(data_prefix or dict(img_path='JPEGImages'))
        if mask_dir is not None:
            # An absolute path is kept as is by BaseDataset's prefix joining.
            data_prefix['seg_map_path'] = osp.abspath(mask_dir)
        if not data_prefix.get('seg_map_path'):
            raise ValueError('PseudoMaskDataset needs mask_dir (or '
                             "data_prefix['seg_map_path'])")
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def _image_list(self) -> List[dict]:
        """mmseg's data list without blank lines; refuses an empty one."""
        # mmseg turns blank lines of the ann file into images named ''
        data_list = [
            d for d in super().load_data_list()
            if osp.basename(d['img_path']) != self.img_suffix
        ]
        if not data_list:
            # mmengine would fail later with "need at least one array to
            # concatenate", naming nothing
            source = self.ann_file or self.data_prefix.get('img_path', '')
            raise ValueError(f'{source}: no images (empty split file?)')
        for d in data_list:
            d['img_id'] = osp.splitext(osp.basename(d['img_path']))[0]
        return data_list

    def load_data_list(self) -> List[dict]:
        """Load the image list and check that every image has a mask.

        Raises:
            ValueError: The ann file (or image folder) gives no image.
            FileNotFoundError: Some listed images have no mask; the message
                gives how many and the first few ids.
        """
        data_list = self._image_list()
        self._refuse_missing(data_list, 'seg_map_path', 'pseudo-mask',
                             self.data_prefix['seg_map_path'])
        return data_list

    def _refuse_missing(self, data_list: List[dict], key: str, what: str,
                        folder: str) -> None:
        """FileNotFoundError naming how many and the first few images
        whose ``key`` file does not exist, among those ``indices`` keeps
        (mmengine's: an int takes the first, or if negative the last, n)."""
        kept, n = data_list, self._indices
        if isinstance(n, int):
            kept = data_list[:n] if n >= 0 else data_list[n:]
        elif n is not None:
            kept = [data_list[i] for i in n]
        missing = [d['img_id'] for d in kept if not osp.isfile(d[key])]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} images listed in '
                f'{self.ann_file} have no {what} in {folder}: '
                f'{first_ids(missing)}')

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on sample ``idx``, checking what it loads.

        The transforms of ``self.pipeline`` are run as ``Compose`` does;
        after the first one that puts ``gt_seg_map`` into the results (the
        loader), the mask values are checked.

        Raises:
            ValueError: The image does not decode, or the mask holds a value
                that is neither a class id nor ``ignore_index``; the message
                names the file.
        """
        return self._run_pipeline(self.get_data_info(idx))

    def _run_pipeline(self, data: dict) -> Any:
        checked = False
        for t in self.pipeline.transforms:
            try:
                data = t(data)
            except Exception as e:
                if not isinstance(t, LoadImageFromFile):
                    raise
                raise ValueError(f"{data['img_path']}: not a readable image "
                                 f'({type(e).__name__}: {e})') from e
            if data is None:
                return None
            if not checked and isinstance(data, dict) and \
                    'gt_seg_map' in data:
                check_label_values(data['gt_seg_map'],
                                   data.get('seg_map_path'),
                                   len(self.metainfo['classes']),
                                   self.ignore_index)
                checked = True
        return data
