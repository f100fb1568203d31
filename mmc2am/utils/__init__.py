from .checkpoint import register_checkpoint_safe_globals
from .io import atomic_open
from .launch import destroy_dist, prepare_cfg_for_device

__all__ = ['atomic_open', 'register_checkpoint_safe_globals',
           'prepare_cfg_for_device', 'destroy_dist']
