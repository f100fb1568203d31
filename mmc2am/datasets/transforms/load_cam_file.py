"""Load an image's CAM file (:mod:`mmc2am.cam.cam_file`) in a pipeline."""
import logging

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mmc2am.cam.cam_file import load_cam_file
from mmc2am.cam.multi_scale import cam_sizes
from mmc2am.registry import TRANSFORMS

__all__ = ['LoadCAMFile']


@TRANSFORMS.register_module()
class LoadCAMFile(BaseTransform):
    """Read the CAMs of ``results['cam_path']``.

    Images whose mask is already written (``results['mask_done']``, set by
    :class:`mmc2am.datasets.CAMFileDataset` from the folder of
    :class:`mmc2am.engine.MaskFileHook`) are passed on without reading: a
    resumed mask stage does not recompute them.

    Required keys: ``cam_path``; optional ``mask_done``.
    Added keys: ``cam_keys`` (int64 (K,), 0-based classes), ``cam``
    (float32 (K, ceil(H/4), ceil(W/4))) and, if the file has them,
    ``high_res_cam`` (float32 (K, H, W)).

    With the image loaded before (``img_shape`` set, as in the mask stages'
    pipeline), the maps must have its size: ``high_res`` (H, W) and ``cam``
    (ceil(H/4), ceil(W/4)); a CAM file made from another image (or another
    size of it) would otherwise be resized to it without a word.

    Files whose CAMs are all zero (an undertrained classifier: every mask
    is background) are counted per process, with a warning at the 1st,
    2nd, 4th, 8th, ... such file.

    Raises:
        FileNotFoundError, ValueError: A missing or unreadable CAM file, or
            one whose size differs from its image's (the message names the
            file and both sizes).
    """

    def __init__(self) -> None:
        super().__init__()
        self.num_all_zero = 0

    def transform(self, results: dict) -> dict:
        if results.get('mask_done', False):
            return results
        path = results['cam_path']
        cams = load_cam_file(path)
        if results.get('img_shape') is not None:
            check_cam_size(path, cams, results['img_shape'],
                           results.get('img_path'))
        self._count_all_zero(path, cams)
        results['cam_keys'] = cams['keys']
        results['cam'] = cams['cam']
        if 'high_res' in cams:
            results['high_res_cam'] = cams['high_res']
        return results

    def _count_all_zero(self, path: str, cams: dict) -> None:
        """Count (and now and then report) files whose CAMs are all 0."""
        maps = cams['cam']
        if maps.shape[0] == 0 or np.any(maps):
            return
        self.num_all_zero += 1
        n = self.num_all_zero
        if n & (n - 1) == 0:  # 1, 2, 4, 8, ...: a count, not a flood
            print_log(
                f'LoadCAMFile: {n} CAM file(s) read so far have all-zero CAMs '
                f'(latest: {path}); their masks are all background: is the '
                'classifier trained?', logger='current', level=logging.WARNING)


def check_cam_size(path: str, cams: dict, img_shape, img_path=None) -> None:
    """Raise ValueError unless a CAM file's maps fit an image of
    ``img_shape`` (H, W): ``high_res`` (H, W), ``cam`` (ceil(H/4),
    ceil(W/4)); the message names the file, the image and both sizes."""
    h, w = (int(v) for v in img_shape[:2])
    strided, _ = cam_sizes(h, w)
    expected = dict(cam=strided, high_res=(h, w))
    for key, size in expected.items():
        if key in cams and tuple(cams[key].shape[-2:]) != tuple(size):
            got = tuple(cams[key].shape[-2:])
            raise ValueError(
                f'CAM file {path}: its {key!r} maps are {got[0]}x{got[1]} but '
                f'the image {img_path or ""} is {h}x{w} (expected '
                f'{size[0]}x{size[1]}): the CAM file is not of this image or '
                'this size; remake the CAM files')
