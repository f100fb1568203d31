from .cam_file_hook import CAMFileHook
from .confounder_set_hook import ConfounderSetHook
from .epoch_seed_hook import EpochSeedHook
from .global_cam_hook import GlobalCAMHook
from .head_buffer_hook import HeadBufferHook
from .mask_file_hook import MaskFileHook
from .per_image_file_hook import PerImageFileHook
from .rca_memory_hook import RCAMemoryHook
from .wood_centres_hook import WOoDCentresHook

__all__ = ['CAMFileHook', 'ConfounderSetHook', 'EpochSeedHook',
           'GlobalCAMHook', 'HeadBufferHook', 'MaskFileHook',
           'PerImageFileHook', 'RCAMemoryHook', 'WOoDCentresHook']
