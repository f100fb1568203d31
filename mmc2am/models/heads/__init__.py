from .causal_cam_head import CausalCAMHead

__all__ = ['CausalCAMHead']
