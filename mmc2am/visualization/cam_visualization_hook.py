"""Hook drawing CAM overlays of the first test images (CAM test mode)."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import mmcv
import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmc2am.registry import HOOKS

from .cam_visualizer import draw_cam_overlay, foreground_names

DEFAULT_THRESHOLD = 0.15  # IRN's evaluation threshold range on VOC


@HOOKS.register_module()
class CAMVisualizationHook(Hook):
    """Draw ``[image | CAM per class | seed]`` for the first test images.

    Registered in mmengine's root ``HOOKS`` (visible from every scope). It
    reads what ``CAMClassifier.test_step`` returns in ``mode='cam'``
    (``high_res_cam`` and ``cam_keys`` per sample) and sends one picture per
    image through the runner's Visualizer (``add_image``; the local backend
    writes ``<log_dir>/vis_data/vis_image/cam_<img_id>_<step>.png``, a
    TensorBoard backend logs it too). Runs on rank 0 only.

    With ``threshold='best'`` the first images are kept (CAMs only, a few MB)
    until the test ends and the seed is drawn at the best threshold found by
    :class:`SeedMetric` (``best_threshold`` in the metrics; 0.15 if absent).

    Args:
        num_images (int): How many images to draw. Defaults to 8.
        threshold (float | str): Seed background threshold, or ``'best'``.
        cam_key (str): Data-sample field with the (K, H, W) CAMs.
        inputs_bgr (bool): Images come from ``data_batch['inputs']`` when
            ``img_path`` cannot be read; they are uint8 BGR there after
            mmcv's loading. Defaults to True.
    """

    priority = 'NORMAL'

    def __init__(self,
                 num_images: int = 8,
                 threshold: Union[float, str] = 'best',
                 cam_key: str = 'high_res_cam',
                 inputs_bgr: bool = True) -> None:
        if not (threshold == 'best' or isinstance(threshold, (int, float))):
            raise ValueError(f"threshold must be a number or 'best', got "
                             f'{threshold!r}')
        self.num_images = num_images
        self.threshold = threshold
        self.cam_key = cam_key
        self.inputs_bgr = inputs_bgr
        self._pending: List[Dict] = []
        self._seen = 0

    def before_test(self, runner) -> None:
        self._pending, self._seen = [], 0

    def _image(self, sample, data_batch, i: int) -> np.ndarray:
        """The RGB image of a sample, cropped to its ``img_shape``."""
        path = sample.get('img_path', None)
        if path is not None and osp.isfile(path):
            return mmcv.imread(path, channel_order='rgb')
        img = data_batch['inputs'][i]
        img = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) \
            else np.asarray(img)
        h, w = sample.img_shape[:2]
        img = img[:, :h, :w].transpose(1, 2, 0)
        img = img[..., ::-1] if self.inputs_bgr else img
        return np.ascontiguousarray(img).astype(np.uint8)

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        if not is_main_process() or self._seen >= self.num_images:
            return
        for i, sample in enumerate(outputs or []):
            if self._seen >= self.num_images:
                break
            if sample.get(self.cam_key, None) is None:
                continue  # not a CAM test run
            item = dict(
                name=f"cam_{sample.get('img_id', None) or self._seen}",
                image=self._image(sample, data_batch, i),
                cams=sample.get(self.cam_key),
                keys=sample.get('cam_keys'))
            self._seen += 1
            if self.threshold == 'best':
                self._pending.append(item)
            else:
                self._draw(runner, item, float(self.threshold))

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        if not self._pending:
            return
        threshold = DEFAULT_THRESHOLD
        for key, value in (metrics or {}).items():
            if key.split('/')[-1] == 'best_threshold':
                threshold = float(value)
        for item in self._pending:
            self._draw(runner, item, threshold)
        self._pending = []

    def _draw(self, runner, item: dict, threshold: float) -> None:
        vis = runner.visualizer
        meta = getattr(vis, 'dataset_meta', None) or getattr(
            runner.test_dataloader.dataset, 'metainfo', None)
        names = foreground_names(meta)
        palette = (meta or {}).get('palette')
        if palette is not None and names and len(palette) <= len(names):
            palette = None  # no background colour: use VOC's colours
        picture = draw_cam_overlay(vis, item['image'], item['cams'],
                                   item['keys'], threshold, names, palette)
        # Not runner.iter: in a test run that property builds the train loop
        # (and its dataset). The message hub holds the trained iteration
        # when a checkpoint was resumed, else 0.
        step = runner.message_hub.get_info('iter', 0)
        vis.add_image(item['name'], picture, step=step)


__all__ = ['CAMVisualizationHook']
