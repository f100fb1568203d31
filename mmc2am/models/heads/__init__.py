from .base_cam_head import BaseCAMHead
from .causal_cam_head import CausalCAMHead
from .conta_head import CONTAHead
from .recam_head import ReCAMHead

__all__ = ['BaseCAMHead', 'CausalCAMHead', 'CONTAHead', 'ReCAMHead']
