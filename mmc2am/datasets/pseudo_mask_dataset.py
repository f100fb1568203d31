"""PASCAL VOC images with pseudo-masks as the segmentation ground truth."""
import os.path as osp
from typing import Any, List, Optional

import numpy as np
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class PseudoMaskDataset(PascalVOCDataset):
    """VOC-layout images plus a folder of pseudo-masks (``<img_id>.png``).

    A drop-in for mmseg's ``PascalVOCDataset`` in the training split of any
    stock VOC config: the same 21 classes and palette, 255 ignored (mmseg's
    default ``ignore_index``), only the masks come from ``mask_dir``, e.g. the
    output of ``tools/make_pseudo_masks.py``.

    Each mask is checked as soon as the pipeline has loaded it (one
    ``max`` over the array): a value that is neither a class nor
    ``ignore_index`` raises an error naming the file, instead of an
    ``IndexError`` deep in the loss.

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

    def load_data_list(self) -> List[dict]:
        """Load the image list and check that every image has a mask.

        Raises:
            ValueError: The ann file (or image folder) gives no image.
            FileNotFoundError: Some listed images have no mask; the message
                gives how many and the first few ids.
        """
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
        missing = [
            osp.splitext(osp.basename(info['img_path']))[0]
            for info in data_list if not osp.isfile(info['seg_map_path'])
        ]
        if missing:
            shown = ', '.join(missing[:5]) + (', ...'
                                              if len(missing) > 5 else '')
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} images listed in '
                f'{self.ann_file} have no pseudo-mask in '
                f"{self.data_prefix['seg_map_path']}: {shown}")
        return data_list

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on sample ``idx``, checking the mask on load.

        The transforms of ``self.pipeline`` are run as ``Compose`` does;
        after the first one that puts ``gt_seg_map`` into the results (the
        loader), the mask values are checked.

        Raises:
            ValueError: The mask holds a value that is neither a class id
                nor ``ignore_index``; the message names the file and the
                pixel values.
        """
        data = self.get_data_info(idx)
        checked = False
        for t in self.pipeline.transforms:
            data = t(data)
            if data is None:
                return None
            if not checked and isinstance(data, dict) and \
                    'gt_seg_map' in data:
                self._check_mask(data['gt_seg_map'], data.get('seg_map_path'))
                checked = True
        return data

    def _check_mask(self, seg: np.ndarray, path: Optional[str]) -> None:
        """Refuse values of a (H, W) mask outside the classes and ignore."""
        num_classes = len(self.metainfo['classes'])
        if seg.max(initial=0) < num_classes:  # the common case, one pass
            return
        bad = np.unique(seg[(seg >= num_classes) & (seg != self.ignore_index)])
        if bad.size:
            raise ValueError(
                f'{path}: pixel value {bad.tolist()} is neither a class '
                f'(0-{num_classes - 1}) nor ignore_index {self.ignore_index}')
