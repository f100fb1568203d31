from .cam_classifier import CAMClassifier
from .cam_data_preprocessor import CAMDataPreprocessor
from .heads import *  # noqa: F401,F403
from .heads import __all__ as _heads_all

__all__ = ['CAMClassifier', 'CAMDataPreprocessor', *_heads_all]
from .crf import *  # noqa
from .irn import *  # noqa
from .decode_heads import *  # noqa
from .losses import *  # noqa
from .segmentors import *  # noqa
# SEAM (issue 27)
from .necks import *  # noqa
from .seam_classifier import SEAMClassifier  # noqa: E402

__all__ += ['SEAMClassifier']
# W-OoD (issue 26)
from .wood_classifier import WOoDClassifier  # noqa: E402

__all__ += ['WOoDClassifier']
