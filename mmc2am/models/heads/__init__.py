from .base_cam_head import BaseCAMHead
from .causal_cam_head import CausalCAMHead
from .conta_head import CONTAHead
from .rca_head import RCAHead
from .recam_head import ReCAMHead

__all__ = ['BaseCAMHead', 'CausalCAMHead', 'CONTAHead', 'RCAHead', 'ReCAMHead']
# SEAM (issue 27)
from .conta_seam_head import CONTASEAMHead  # noqa: E402
from .seam_head import SEAMHead  # noqa: E402

__all__ += ['SEAMHead', 'CONTASEAMHead']
