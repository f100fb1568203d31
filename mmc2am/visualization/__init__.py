from .cam_visualization_hook import CAMVisualizationHook
from .cam_visualizer import (
    CAMVisualizer,
    draw_cam_overlay,
    seed_from_cams,
    voc_palette,
)

__all__ = [
    'CAMVisualizationHook', 'CAMVisualizer', 'draw_cam_overlay',
    'seed_from_cams', 'voc_palette'
]
