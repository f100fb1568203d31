from .crf_confident_labels import CRFConfidentLabels, thresholds_from_seed_sweep
from .irnet import IRNet

__all__ = ['CRFConfidentLabels', 'IRNet', 'thresholds_from_seed_sweep']
