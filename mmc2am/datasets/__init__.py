from .voc_cls_dataset import VOCImageLevelDataset
from .voc_generator import generate_voc_dataset

__all__ = ['generate_voc_dataset', 'VOCImageLevelDataset']
from .irn_affinity_dataset import *  # noqa
from .pseudo_mask_dataset import PseudoMaskDataset  # noqa: E402

__all__ += ['PseudoMaskDataset']
