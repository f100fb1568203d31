from .adv_cam import AdvCAM
from .base_cam_generator import BaseCAMGenerator
from .multi_scale_cam import MultiScaleCAM

__all__ = ['AdvCAM', 'BaseCAMGenerator', 'MultiScaleCAM']
# SEAM (issue 27)
from .seam_cam import SEAMCAM  # noqa: E402

__all__ += ['SEAMCAM']
