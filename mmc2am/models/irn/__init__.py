from .crf_confident_labels import CRFConfidentLabels
from .irnet import IRNet

__all__ = ['CRFConfidentLabels', 'IRNet']
