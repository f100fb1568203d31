from .base_cam_head import BaseCAMHead
from .causal_cam_head import CausalCAMHead
from .conta_head import CONTAHead
from .rca_head import RCAHead
from .recam_head import ReCAMHead

__all__ = ['BaseCAMHead', 'CausalCAMHead', 'CONTAHead', 'RCAHead', 'ReCAMHead']
