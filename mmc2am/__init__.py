"""mmc2am: Causal Class Activation Maps (C2AM) as an OpenMMLab plugin.

Importing the package registers every component into the registries of
mmengine, mmsegmentation and mmpretrain, so a config only needs::

    custom_imports = dict(imports=['mmc2am'], allow_failed_imports=False)
"""
from .utils import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

from . import (  # noqa: E402,F401
    cam,
    datasets,
    engine,
    evaluation,
    models,
    visualization,
)

__all__ = ['__version__']
