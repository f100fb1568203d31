from .erase_objects import EraseObjects
from .irn_random_crop import BGR_MEAN, IRNRandomCrop
from .irn_random_rescale import IRNRandomRescale
from .load_cam_file import LoadCAMFile
from .load_optional_annotations import LoadOptionalAnnotations
from .pack_cam_inputs import PackCAMInputs

__all__ = [
    'BGR_MEAN', 'EraseObjects', 'IRNRandomCrop', 'IRNRandomRescale',
    'LoadCAMFile', 'LoadOptionalAnnotations', 'PackCAMInputs'
]
# SEAM (issue 27)
from .seam_color_jitter import SEAMColorJitter  # noqa: E402

__all__ += ['SEAMColorJitter']
# object-context recombination (issue 26)
from .paste_objects import PasteObjects  # noqa: E402

__all__ += ['PasteObjects']
