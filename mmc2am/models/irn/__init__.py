import warnings

from .irnet import IRNet

__all__ = ['IRNet']

_MOVED = ('CRFConfidentLabels', 'thresholds_from_seed_sweep')


def __getattr__(name: str):
    """``mmc2am.models.irn.CRFConfidentLabels`` of older code: the CRF model
    is in :mod:`mmc2am.models.crf` (the registry name is unchanged)."""
    if name in _MOVED:
        warnings.warn(
            f'mmc2am.models.irn.{name} moved to mmc2am.models.crf.{name}',
            DeprecationWarning, stacklevel=2)
        from .. import crf
        return getattr(crf, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
