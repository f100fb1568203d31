"""CAM overlays: the image, each present class's CAM as a heat map, the seed.

Pictures are composed with numpy/OpenCV, titled with mmengine's
``Visualizer`` drawing API and sent through ``Visualizer.add_image``, so they
reach every configured backend (local files, TensorBoard, ...).
"""
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.visualization import Visualizer

from mmc2am.cam.labels import background_argmax
from mmc2am.registry import VISUALIZERS

# The seed labels of a picture are the seed metric's (one function); the old
# name stays for callers.
seed_from_cams = background_argmax


def voc_palette() -> np.ndarray:
    """(21, 3) uint8 RGB colours of VOC's classes, from mmseg's
    ``PascalVOCDataset.METAINFO`` (background first)."""
    from mmseg.datasets import PascalVOCDataset
    return np.asarray(PascalVOCDataset.METAINFO['palette'], dtype=np.uint8)


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def draw_cam_overlay(visualizer: Visualizer,
                     image: np.ndarray,
                     cams: np.ndarray,
                     keys: Sequence[int],
                     threshold: Optional[float] = None,
                     class_names: Optional[Sequence[str]] = None,
                     palette: Optional[np.ndarray] = None,
                     alpha: float = 0.5,
                     min_size: int = 160) -> np.ndarray:
    """One picture: ``[image | CAM of each class | seed]`` side by side.

    Args:
        visualizer (Visualizer): Used for the panel titles (its canvas is
            reset to the picture).
        image (np.ndarray): (H, W, 3) uint8 RGB image.
        cams (np.ndarray): (K, H, W) CAMs in [0, 1].
        keys (Sequence[int]): (K,) 0-based class index of each map.
        threshold (float, optional): Background threshold of the seed panel;
            None leaves the seed out.
        class_names (Sequence[str], optional): Foreground class names.
        palette (np.ndarray, optional): (N, 3) RGB colours of the label ids
            (0 = background). Defaults to VOC's (:func:`voc_palette`).
        alpha (float): Opacity of heat maps and seed colours.
        min_size (int): Smaller images are enlarged by an integer factor
            to at least this short side.

    Returns:
        np.ndarray: (z * H, z * W * (K + 1 or 2), 3) uint8 RGB picture,
        ``z`` the enlargement factor (1 unless the image is small).
    """
    cams = np.clip(_numpy(cams).astype(np.float32), 0, 1)
    keys = [int(k) for k in _numpy(keys).ravel()]
    H, W = cams.shape[1:] if cams.ndim == 3 else image.shape[:2]
    if image.shape[:2] != (H, W):
        image = cv2.resize(image, (W, H), interpolation=cv2.INTER_LINEAR)
    image = image.astype(np.float32)

    def name(k: int) -> str:
        return class_names[k] if class_names and k < len(class_names) \
            else f'class {k}'

    panels, titles = [image], ['image']
    for k, cam in zip(keys, cams):
        heat = cv2.applyColorMap((cam * 255).astype(np.uint8),
                                 cv2.COLORMAP_JET)[..., ::-1]
        panels.append((1 - alpha) * image + alpha * heat)
        titles.append(f'{name(k)} {cam.max():.2f}')
    if threshold is not None:
        palette = voc_palette() if palette is None else np.asarray(palette)
        seed = background_argmax(cams, keys, threshold)
        colour = palette[np.minimum(seed, len(palette) - 1)].astype(np.float32)
        panels.append((1 - alpha) * image + alpha * colour)
        titles.append(f'seed@{threshold:.2f}')
    # Small images (e.g. generated 64 px data) are enlarged, pixels kept
    # visible, so that the titles fit.
    zoom = max(1, -(-min_size // min(H, W)))
    if zoom > 1:
        panels = [cv2.resize(p, (W * zoom, H * zoom),
                             interpolation=cv2.INTER_NEAREST) for p in panels]
        H, W = H * zoom, W * zoom
    picture = np.concatenate(panels, axis=1).round().clip(0, 255)
    visualizer.set_image(picture.astype(np.uint8))
    # Matplotlib font sizes are points; about 0.6 x size pixels per char.
    longest = max(len(t) for t in titles)
    font = int(max(6, min(14, (W - 6) / (0.62 * longest))))
    visualizer.draw_texts(
        titles,
        np.array([[i * W + 3, 3] for i in range(len(titles))]),
        colors='white',
        font_sizes=font,
        bboxes=dict(facecolor='black', alpha=0.6, pad=1, edgecolor='none'))
    return visualizer.get_image()


@VISUALIZERS.register_module()
class CAMVisualizer(Visualizer):
    """A ``Visualizer`` that draws CAM overlays of data samples.

    Usable as the runner's ``visualizer`` (``dict(type='CAMVisualizer',
    vis_backends=[...])``); :class:`CAMVisualizationHook` also works with any
    other ``Visualizer``.

    Args:
        class_names (Sequence[str], optional): Foreground class names;
            defaults to ``dataset_meta['classes']`` (without background).
        alpha (float): Opacity of the overlays.
        **kwargs: See ``mmengine.visualization.Visualizer``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 class_names: Optional[Sequence[str]] = None,
                 alpha: float = 0.5,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.class_names = class_names
        self.alpha = alpha

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       threshold: Optional[float] = 0.15,
                       cam_key: str = 'high_res_cam') -> np.ndarray:
        """Draw the CAM overlay of one sample and send it to the backends.

        Args:
            name (str): Image identifier.
            image (np.ndarray): (H, W, 3) uint8 RGB image.
            data_sample: Has ``cam_key`` (K, H, W) and ``cam_keys`` (K,).
            draw_gt, draw_pred: Unused (kept for the Visualizer interface).
            show (bool): Show the picture in a window.
            wait_time (float): Seconds to show it.
            out_file (str, optional): Also write it there.
            step (int): Global step of the backends.
            threshold (float, optional): Seed background threshold.
            cam_key (str): Field with the CAMs.

        Returns:
            np.ndarray: The RGB picture.
        """
        picture = draw_cam_overlay(
            self, image, data_sample.get(cam_key), data_sample.get('cam_keys'),
            threshold, self._class_names(), self.dataset_meta.get('palette')
            if self.dataset_meta else None, self.alpha)
        if show:
            self.show(picture, win_name=name, wait_time=wait_time)
        if out_file is not None:
            import mmcv
            mmcv.imwrite(picture[..., ::-1], out_file)
        else:
            self.add_image(name, picture, step)
        return picture

    def _class_names(self) -> Optional[List[str]]:
        if self.class_names is not None:
            return list(self.class_names)
        return foreground_names(self.dataset_meta)


def foreground_names(meta: Optional[Dict]) -> Optional[List[str]]:
    """Foreground class names of a dataset's metainfo (a leading
    ``background`` dropped)."""
    names = list((meta or {}).get('classes', ()) or ())
    if names and str(names[0]).lower() in ('background', 'bg'):
        names = names[1:]
    return names or None


__all__ = [
    'CAMVisualizer', 'draw_cam_overlay', 'foreground_names', 'seed_from_cams',
    'voc_palette'
]
