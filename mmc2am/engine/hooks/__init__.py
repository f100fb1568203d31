from .cam_file_hook import CAMFileHook
from .epoch_seed_hook import EpochSeedHook
from .global_cam_hook import GlobalCAMHook

__all__ = ['CAMFileHook', 'EpochSeedHook', 'GlobalCAMHook']
from .confounder_set_hook import ConfounderSetHook  # noqa: E402

__all__ += ['ConfounderSetHook']
