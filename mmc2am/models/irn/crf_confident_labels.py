"""IRN's confident labels (``step/cam_to_ir_label.py``) as a test-time model.

The CRF pseudo-mask stage is ``tools/test.py`` on a config with this model,
:class:`mmc2am.datasets.CAMFileDataset` (image + CAM file + mask) and
:class:`mmc2am.evaluation.PseudoMaskMetric` (writes and scores the masks).
The model has no weights: per image it runs
:func:`mmc2am.cam.pseudo_mask.cam_to_pseudo_mask` on the CAMs and the image.
"""
from typing import List, Optional

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor

from mmc2am.cam.pseudo_mask import DEFAULT_CRF, cam_to_pseudo_mask, resize_cams

__all__ = ['CRFConfidentLabels']


@MODELS.register_module()
class CRFConfidentLabels(BaseModel):
    """Confident foreground / background labels of each image from its CAMs.

    Per image: background plane ``t_fg`` -> argmax -> dense CRF (confident
    foreground), the same with ``t_bg`` (confident background), pixels in
    between 255 (see :mod:`mmc2am.cam.pseudo_mask`). The thresholds are the
    method's and have no default, so a config states them: IRN (plain CAM)
    0.30 / 0.05, C2AM 0.375 / 0.10.

    Inputs are the (3, H, W) uint8 BGR images as loaded; every data sample
    carries ``cam_keys`` and the CAMs of ``cam_key``. Samples whose mask is
    already written (``mask_done``) are returned untouched.

    Args:
        t_fg (float): Background score of the confident foreground.
        t_bg (float): Background score of the confident background,
            ``<= t_fg``.
        mode (str): ``'crf'`` (IRN) or ``'threshold'`` (no CRF).
        crf (dict, optional): :func:`crf_inference_label` arguments;
            defaults to IRN's (:data:`DEFAULT_CRF`).
        cam_key (str): ``'high_res_cam'`` (full resolution, IRN) or
            ``'cam'`` (stride 4); resized to the image if its size differs.
        data_preprocessor (dict, optional): Defaults to mmengine's
            ``BaseDataPreprocessor`` (no normalisation: the CRF needs the
            image's colours).
        init_cfg (dict, optional): Unused (no weights).
    """

    def __init__(self,
                 t_fg: Optional[float] = None,
                 t_bg: Optional[float] = None,
                 mode: str = 'crf',
                 crf: Optional[dict] = None,
                 cam_key: str = 'high_res_cam',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if t_fg is None or t_bg is None:
            raise ValueError(
                'set model.t_fg and model.t_bg (IRN / plain CAM: 0.30 / 0.05, '
                'C2AM: 0.375 / 0.10), e.g. with configs/c2am/'
                'pseudo_mask_{cam,c2am}_*.py')
        if mode not in ('crf', 'threshold'):
            raise ValueError(f"mode must be 'crf' or 'threshold', got {mode!r}")
        if t_bg > t_fg:
            raise ValueError(f't_bg ({t_bg}) must not exceed t_fg ({t_fg})')
        if cam_key not in ('high_res_cam', 'cam'):
            raise ValueError(f"cam_key must be 'high_res_cam' or 'cam', got "
                             f'{cam_key!r}')
        self.t_fg, self.t_bg, self.mode = float(t_fg), float(t_bg), mode
        self.crf = dict(DEFAULT_CRF, **(crf or {})) if mode == 'crf' else None
        self.cam_key = cam_key

    @property
    def mask_params(self) -> dict:
        """The settings the masks depend on (recorded beside them)."""
        return dict(model=type(self).__name__, t_fg=self.t_fg,
                    t_bg=self.t_bg, mode=self.mode, crf=self.crf,
                    cam_key=self.cam_key)

    def forward(self,
                inputs: List[Tensor],
                data_samples: Optional[List[SegDataSample]] = None,
                mode: str = 'predict') -> List[SegDataSample]:
        """Add ``pred_sem_seg`` (1, H, W) uint8 to each sample.

        Args:
            inputs (list[Tensor]): (3, H, W) uint8 BGR images (a stacked
                (B, 3, H, W) batch works too).
            data_samples (list[SegDataSample]): With ``cam_keys``, the CAMs
                and ``img_shape``.
            mode (str): Only ``'predict'``.
        """
        if mode != 'predict':
            raise RuntimeError(f'{type(self).__name__} only predicts '
                               f'(mode "{mode}")')
        for img, sample in zip(inputs, data_samples):
            sample.set_metainfo(dict(mask_params=self.mask_params))
            if sample.metainfo.get('mask_done', False):
                continue
            h, w = (int(v) for v in sample.metainfo['img_shape'][:2])
            # BGR (as loaded) to the RGB (H, W, 3) uint8 the CRF takes
            rgb = np.ascontiguousarray(
                img[:, :h, :w].cpu().numpy()[::-1].transpose(1, 2, 0))
            cams = sample.get(self.cam_key)
            if cams is None:
                raise KeyError(f"{sample.metainfo.get('cam_path')} has no "
                               f'{self.cam_key!r} maps')
            cams = resize_cams(cams.cpu().numpy(), (h, w))
            mask = cam_to_pseudo_mask(cams, sample.metainfo['cam_keys'],
                                      self.t_fg, self.t_bg, img=rgb,
                                      mode=self.mode, crf=self.crf)
            sample.pred_sem_seg = PixelData(data=torch.from_numpy(mask)[None])
        return data_samples
