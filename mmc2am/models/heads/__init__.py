from .causal_cam_head import CausalCAMHead
from .recam_head import ReCAMHead

__all__ = ['CausalCAMHead', 'ReCAMHead']
from .conta_head import CONTAHead  # noqa: E402

__all__ += ['CONTAHead']
