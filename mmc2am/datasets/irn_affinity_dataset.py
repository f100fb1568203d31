"""Images with their confident pseudo-masks, for training IRNet.

IRN's ``VOC12AffinityDataset`` serves an image, its confident label map
(``step/cam_to_ir_label.py``: classes, background 0, ignore 255; here the
PNGs of ``tools/make_pseudo_masks.py``) and the pair labels of that map
shrunk to stride 4. The pair labels are computed by the model
(:meth:`mmc2am.cam.path_index.PathIndex.to_pair_labels`) on the device
instead of in the loader: a 512 crop at radius 10 has 152 x 13,090 pairs,
so three float label tensors would take ~24 MB per image.

The augmentation is the reference's, in its order: rescale by a random
factor in [0.5, 1.5] (bicubic image, nearest labels), horizontal flip,
random crop 512 where an image smaller than the crop is placed at a random
position of the crop and the rest filled with the mean colour (zero after
normalisation, as IRN pads after normalising) and ignore labels.
"""
import os.path as osp
from typing import Optional, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS, TRANSFORMS

__all__ = ['IRNAffinityDataset', 'IRNRandomRescale']


@DATASETS.register_module()
class IRNAffinityDataset(PascalVOCDataset):
    """VOC images with the confident pseudo-masks as ``gt_seg_map``.

    Args:
        ann_file (str): Image id list, relative to ``data_root``
            (``ImageSets/Segmentation/trainaug.txt`` in the reference).
        label_dir (str): Folder of the confident pseudo-masks
            ``<img_id>.png`` (``tools/make_pseudo_masks.py``), relative to
            the working directory, not to ``data_root``.
        data_prefix (dict): ``img_path`` relative to ``data_root``
            (default ``JPEGImages``).
        **kwargs: See mmseg's ``BaseSegDataset``.
    """

    def __init__(self,
                 ann_file: str,
                 label_dir: str,
                 data_prefix: Optional[dict] = None,
                 **kwargs):
        data_prefix = dict(data_prefix or dict(img_path='JPEGImages'))
        # absolute, so BaseSegDataset does not join it onto data_root
        data_prefix['seg_map_path'] = osp.abspath(label_dir)
        self.label_dir = data_prefix['seg_map_path']
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self):
        """The image list, refusing images without a pseudo-mask."""
        data_list = super().load_data_list()
        missing = [
            d['seg_map_path'] for d in data_list
            if not osp.isfile(d['seg_map_path'])
        ]
        if missing:
            names = ', '.join(osp.basename(p) for p in missing[:5])
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} images of '
                f'{self.ann_file} have no pseudo-mask in {self.label_dir} '
                f'({names}{", ..." if len(missing) > 5 else ""}); run '
                'tools/make_pseudo_masks.py first or set label_dir')
        return data_list


@TRANSFORMS.register_module()
class IRNRandomRescale(BaseTransform):
    """Rescale the image and label map by one random factor.

    IRN's ``random_scale``: factor uniform in ``scale_range``, new size
    ``round(H * s) x round(W * s)``, PIL bicubic for the image, nearest for
    the labels.

    Required keys: ``img``, ``gt_seg_map`` (optional).
    Modified keys: ``img``, ``gt_seg_map``, ``img_shape``, ``scale_factor``.

    Args:
        scale_range (tuple[float, float]): Range of the factor.
        interpolation (str): Image interpolation (mmcv name).
        backend (str): mmcv resize backend; ``'pillow'`` as the reference.
    """

    def __init__(self,
                 scale_range: Tuple[float, float] = (0.5, 1.5),
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow'):
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise ValueError(f'invalid scale_range {scale_range}')
        self.scale_range = (lo, hi)
        self.interpolation = interpolation
        self.backend = backend

    def transform(self, results: dict) -> dict:
        scale = np.random.uniform(*self.scale_range)
        h, w = results['img'].shape[:2]
        size = (max(int(np.round(w * scale)), 1),
                max(int(np.round(h * scale)), 1))  # (w, h) for mmcv
        results['img'] = mmcv.imresize(
            results['img'], size, interpolation=self.interpolation,
            backend=self.backend)
        for key in results.get('seg_fields', []):
            results[key] = mmcv.imresize(
                results[key], size, interpolation='nearest',
                backend=self.backend)
        results['img_shape'] = results['img'].shape[:2]
        results['scale_factor'] = (size[0] / w, size[1] / h)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale_range={self.scale_range}, '
                f'interpolation={self.interpolation})')
