from .cam_file_dataset import CAMFileDataset
from .irn_affinity_dataset import IRNAffinityDataset, IRNRandomRescale
from .irn_cls_labels import load_irn_cls_labels
from .pseudo_mask_dataset import PseudoMaskDataset
from .samplers import TotalBatchSampler
from .transforms import EraseObjects, IRNRandomCrop
from .voc_cls_dataset import VOCImageLevelDataset

__all__ = [
    'CAMFileDataset', 'EraseObjects', 'IRNAffinityDataset', 'IRNRandomCrop',
    'IRNRandomRescale', 'load_irn_cls_labels', 'PseudoMaskDataset',
    'TotalBatchSampler', 'VOCImageLevelDataset'
]
