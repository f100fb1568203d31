from .crf_confident_labels import CRFConfidentLabels, thresholds_from_seed_sweep

__all__ = ['CRFConfidentLabels', 'thresholds_from_seed_sweep']
