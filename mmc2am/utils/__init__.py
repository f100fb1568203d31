from .checkpoint import register_checkpoint_safe_globals
from .config_files import CONFIG_ROOT, find_config, list_configs
from .io import atomic_open
from .launch import destroy_dist, prepare_cfg_for_device

__all__ = [
    'atomic_open', 'CONFIG_ROOT', 'find_config', 'list_configs',
    'register_checkpoint_safe_globals', 'prepare_cfg_for_device', 'destroy_dist'
]
