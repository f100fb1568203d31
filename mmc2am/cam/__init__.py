from .advcam import advcam_climb, advcam_step
from .cam_file import cam_file_path, load_cam_file, save_cam_file
from .cam_inference import inference_cam_fn, predict_cams
from .labels import background_argmax, peak_and_label
from .multi_scale import (
    cam_sizes,
    multi_scale_cam,
    multi_scale_cam_reference,
    normalize_cams,
)
from .path_index import PathIndex
from .random_walk import random_walk, random_walk_labels

__all__ = [
    'advcam_climb', 'advcam_step', 'PathIndex', 'background_argmax',
    'cam_file_path', 'cam_sizes', 'inference_cam_fn', 'load_cam_file',
    'multi_scale_cam', 'multi_scale_cam_reference', 'normalize_cams',
    'peak_and_label', 'predict_cams', 'random_walk', 'random_walk_labels',
    'save_cam_file'
]
