"""Images with their confident pseudo-masks, for training IRNet.

IRN's ``VOC12AffinityDataset`` serves an image, its confident label map
(``step/cam_to_ir_label.py``: classes, background 0, ignore 255; here the
masks of the CRF stage, ``configs/c2am/pseudo_mask_*``) and the pair labels
of that map shrunk to stride 4. The pair labels are computed by the model
(:meth:`mmc2am.cam.path_index.PathIndex.to_pair_labels`) on the device
instead of in the loader: a 512 crop at radius 10 has 152 x 13,090 pairs,
so three float label tensors would take ~24 MB per image.

The dataset itself is :class:`PseudoMaskDataset` (images + a folder of
masks as ``gt_seg_map``); this subclass only names the folder ``label_dir``
as IRN does. The augmentation is the reference's, in its order
(``IRNRandomRescale``, flip, ``IRNRandomCrop``), in the config's pipeline.
"""
from mmc2am.registry import DATASETS

from .pseudo_mask_dataset import PseudoMaskDataset
from .transforms.irn_random_rescale import IRNRandomRescale

__all__ = ['IRNAffinityDataset', 'IRNRandomRescale']


@DATASETS.register_module()
class IRNAffinityDataset(PseudoMaskDataset):
    """VOC images with the confident pseudo-masks as ``gt_seg_map``.

    Args:
        ann_file (str): Image id list, relative to ``data_root``
            (``ImageSets/Segmentation/trainaug.txt`` in the reference).
        label_dir (str): Folder of the confident pseudo-masks
            ``<img_id>.png``, relative to the working directory, not to
            ``data_root`` (``mask_dir`` of :class:`PseudoMaskDataset`).
        **kwargs: See :class:`PseudoMaskDataset`.
    """

    def __init__(self, ann_file: str, label_dir: str, **kwargs) -> None:
        super().__init__(ann_file=ann_file, mask_dir=label_dir, **kwargs)
