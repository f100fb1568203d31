"""IRN's confident labels (``step/cam_to_ir_label.py``) as a test-time model.

The CRF pseudo-mask stage is ``tools/test.py`` on a config with this model,
:class:`mmc2am.datasets.CAMFileDataset` (image + CAM file + ground truth),
:class:`mmc2am.engine.MaskFileHook` (writes the masks, resumes) and
:class:`mmc2am.evaluation.PseudoMaskMetric` (scores them). The model has no
weights: per image it runs :func:`mmc2am.cam.pseudo_mask.cam_to_pseudo_mask`
on the CAMs and the image.
"""
import json
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor

from mmc2am.cam.multi_scale import cam_sizes
from mmc2am.cam.pseudo_mask import DEFAULT_CRF, cam_to_pseudo_mask, resize_cams
from mmc2am.registry import MODELS

__all__ = ['CRFConfidentLabels', 'thresholds_from_seed_sweep']


def _best_threshold(metrics: dict) -> Optional[float]:
    """``best_threshold`` of a metrics dict, also under a metric prefix
    (``'seed/best_threshold'``)."""
    for key, value in metrics.items():
        if key == 'best_threshold' or key.endswith('/best_threshold'):
            return float(value)
    return None


def thresholds_from_seed_sweep(metrics: str,
                               fg: float = 0.0,
                               bg: float = -0.10) -> Tuple[float, float, float]:
    """``t_fg`` and ``t_bg`` from a method's own seed sweep.

    The rule: with ``t*`` the best background threshold of the sweep
    (:class:`mmc2am.evaluation.SeedMetric`'s ``best_threshold``, in the
    ``test_metrics.json`` that ``tools/test.py`` writes for the classifier's
    seed run), ``t_fg = t* + fg`` and ``t_bg = t* + bg``, both clipped to
    ``[0, 1]`` and ``t_bg`` to at most ``t_fg``.

    Args:
        metrics (str): Path of the seed run's ``test_metrics.json``.
        fg (float): Offset of ``t_fg`` from ``t*``.
        bg (float): Offset of ``t_bg`` from ``t*``.

    Returns:
        tuple[float, float, float]: ``t_fg``, ``t_bg`` and ``t*``.

    Raises:
        FileNotFoundError: No such file (the seed run has not run).
        KeyError: The file has no ``best_threshold``.
    """
    if not osp.isfile(metrics):
        raise FileNotFoundError(
            f'thresholds_from_seeds: no seed metrics at {osp.abspath(metrics)}'
            ' (run the classifier\'s seed test first: tools/test.py '
            '<classifier config> <checkpoint>; relative paths are from the '
            'current folder)')
    with open(metrics) as f:
        best = _best_threshold(json.load(f))
    if best is None:
        raise KeyError(f'{metrics} has no best_threshold (not a SeedMetric '
                       'run?)')
    t_fg = min(1.0, max(0.0, best + fg))
    t_bg = min(t_fg, max(0.0, best + bg))
    # no float noise (0.55 - 0.1 = 0.45000000000000007) in the records
    return round(t_fg, 4), round(t_bg, 4), best


@MODELS.register_module()
class CRFConfidentLabels(BaseModel):
    """Confident foreground / background labels of each image from its CAMs.

    Per image: background plane ``t_fg`` -> argmax -> dense CRF (confident
    foreground), the same with ``t_bg`` (confident background), pixels in
    between 255 (see :mod:`mmc2am.cam.pseudo_mask`). The thresholds are the
    method's and have no default, so a config states them: IRN (plain CAM)
    0.30 / 0.05, C2AM 0.375 / 0.10; or ``thresholds_from_seeds`` derives
    them from the method's seed sweep (:func:`thresholds_from_seed_sweep`).

    Inputs are the (3, H, W) uint8 BGR images as loaded; every data sample
    carries ``cam_keys`` and the CAMs of ``cam_key``. Samples whose mask is
    already written (``mask_done``, their ``pred_sem_seg`` read back by
    :class:`mmc2am.engine.MaskFileHook`) are returned untouched.

    Args:
        t_fg (float): Background score of the confident foreground.
        t_bg (float): Background score of the confident background,
            ``<= t_fg``.
        thresholds_from_seeds (dict, optional): Instead of ``t_fg`` /
            ``t_bg`` (which must then be None): ``metrics`` (the seed run's
            ``test_metrics.json``, relative to the current folder), ``fg``
            and ``bg`` (offsets from its best threshold ``t*``; defaults 0
            and -0.10): ``t_fg = t* + fg``, ``t_bg = t* + bg``, clipped to
            ``[0, 1]``. Read once, when the model is built.
        mode (str): ``'crf'`` (IRN) or ``'threshold'`` (no CRF).
        crf (dict, optional): :func:`crf_inference_label` arguments;
            defaults to IRN's (:data:`DEFAULT_CRF`).
        cam_key (str): ``'high_res_cam'`` (full resolution, IRN) or
            ``'cam'`` (stride 4, resized to the image). Maps of another
            size than the image's (a CAM file of another image) are refused.
        data_preprocessor (dict, optional): Defaults to mmengine's
            ``BaseDataPreprocessor`` (no normalisation: the CRF needs the
            image's colours).
        init_cfg (dict, optional): Unused (no weights).
    """

    def __init__(self,
                 t_fg: Optional[float] = None,
                 t_bg: Optional[float] = None,
                 thresholds_from_seeds: Optional[dict] = None,
                 mode: str = 'crf',
                 crf: Optional[dict] = None,
                 cam_key: str = 'high_res_cam',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.seed_rule = None
        if thresholds_from_seeds is not None:
            if t_fg is not None or t_bg is not None:
                raise ValueError(
                    'set either model.t_fg / model.t_bg or '
                    'model.thresholds_from_seeds, not both (got t_fg='
                    f'{t_fg}, t_bg={t_bg})')
            rule = {'fg': 0.0, 'bg': -0.10, **thresholds_from_seeds}
            unknown = set(rule) - {'metrics', 'fg', 'bg'}
            if unknown or not rule.get('metrics'):
                raise ValueError(
                    'thresholds_from_seeds takes metrics (the seed run\'s '
                    'test_metrics.json), fg and bg; got '
                    f'{thresholds_from_seeds}')
            t_fg, t_bg, best = thresholds_from_seed_sweep(
                rule['metrics'], float(rule['fg']), float(rule['bg']))
            self.seed_rule = dict(fg=float(rule['fg']), bg=float(rule['bg']),
                                  best_threshold=best)
        if t_fg is None or t_bg is None:
            raise ValueError(
                'set model.t_fg and model.t_bg (IRN / plain CAM: 0.30 / 0.05, '
                'C2AM: 0.375 / 0.10), or model.thresholds_from_seeds, e.g. '
                'with configs/crf/crf_{voc,gen}_{cam,c2am}.py')
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
        """The settings the masks depend on (recorded beside them by
        :class:`mmc2am.engine.MaskFileHook`)."""
        params = dict(model=type(self).__name__, t_fg=self.t_fg,
                      t_bg=self.t_bg, mode=self.mode, crf=self.crf,
                      cam_key=self.cam_key)
        if self.seed_rule is not None:
            params['thresholds_from_seeds'] = self.seed_rule
        return params

    def _check_cam_size(self, cams: np.ndarray, metainfo: dict,
                        size: Tuple[int, int]) -> None:
        """ValueError (naming the CAM file and both sizes) unless the
        (K, h, w) maps of ``cam_key`` fit an image of ``size`` (H, W)."""
        h, w = size
        expected = (h, w) if self.cam_key == 'high_res_cam' else cam_sizes(
            h, w)[0]
        got = tuple(cams.shape[-2:])
        if cams.shape[0] and got != tuple(expected):
            raise ValueError(
                f"CAM file {metainfo.get('cam_path')}: its {self.cam_key!r} "
                f'maps are {got[0]}x{got[1]} but the image '
                f"{metainfo.get('img_path', '')} is {h}x{w} (expected "
                f'{expected[0]}x{expected[1]}): the CAM file is not of this '
                'image or this size; remake the CAM files')

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
            cams = cams.cpu().numpy()
            self._check_cam_size(cams, sample.metainfo, (h, w))
            cams = resize_cams(cams, (h, w))
            mask = cam_to_pseudo_mask(cams, sample.metainfo['cam_keys'],
                                      self.t_fg, self.t_bg, img=rgb,
                                      mode=self.mode, crf=self.crf)
            sample.pred_sem_seg = PixelData(data=torch.from_numpy(mask)[None])
        return data_samples
