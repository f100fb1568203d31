from .pseudo_mask_metric import PseudoMaskMetric
from .seed_metric import SeedMetric

__all__ = ['PseudoMaskMetric', 'SeedMetric']
