from .pseudo_mask_metric import PseudoMaskMetric
from .seed_metric import SeedMetric

__all__ = ['PseudoMaskMetric', 'SeedMetric']
# context spill (issue 26)
from .context_spill_metric import ContextSpillMetric  # noqa: E402

__all__ += ['ContextSpillMetric']
