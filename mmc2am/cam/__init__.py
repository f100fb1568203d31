from .cam_file import cam_file_path, load_cam_file, save_cam_file
from .cam_inference import inference_cam_fn, predict_cams
from .multi_scale import (
    cam_sizes,
    multi_scale_cam,
    multi_scale_cam_reference,
    normalize_cams,
)

__all__ = [
    'cam_file_path', 'cam_sizes', 'inference_cam_fn', 'load_cam_file',
    'multi_scale_cam', 'multi_scale_cam_reference', 'normalize_cams',
    'predict_cams', 'save_cam_file'
]
from .path_index import PathIndex  # noqa: E402,F401
from .random_walk import random_walk, random_walk_labels  # noqa: E402,F401
