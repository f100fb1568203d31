"""Load an image's CAM file (:mod:`mmc2am.cam.cam_file`) in a pipeline."""
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from mmc2am.cam.cam_file import load_cam_file

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

    Raises:
        FileNotFoundError, ValueError: A missing or unreadable CAM file (the
            message names it).
    """

    def transform(self, results: dict) -> dict:
        if results.get('mask_done', False):
            return results
        cams = load_cam_file(results['cam_path'])
        results['cam_keys'] = cams['keys']
        results['cam'] = cams['cam']
        if 'high_res' in cams:
            results['high_res_cam'] = cams['high_res']
        return results
