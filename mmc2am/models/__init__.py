from .cam_classifier import CAMClassifier
from .heads import *  # noqa: F401,F403
from .heads import __all__ as _heads_all

__all__ = ['CAMClassifier', *_heads_all]
from .irn import *  # noqa
