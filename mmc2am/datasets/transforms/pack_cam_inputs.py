"""mmseg's ``PackSegInputs`` plus the CAMs read by ``LoadCAMFile``."""
import numpy as np
import torch
from mmseg.datasets.transforms import PackSegInputs

from mmc2am.registry import TRANSFORMS

__all__ = ['PackCAMInputs']


@TRANSFORMS.register_module()
class PackCAMInputs(PackSegInputs):
    """Pack the image, its mask (if any) and its CAMs into a data sample.

    ``inputs`` is the (3, H, W) uint8 image as loaded (BGR), the data sample
    an mmseg ``SegDataSample`` with ``gt_sem_seg`` when the image has a
    mask, the data fields ``cam`` (K, h, w) and ``high_res_cam`` (K, H, W)
    (float32 tensors, when loaded) and the metainfo ``cam_keys`` plus
    ``meta_keys``.

    Args:
        meta_keys (tuple[str]): Metainfo keys. The defaults name the files
            of the mask stages (``img_id``, ``cam_path``, ``mask_path``,
            ``mask_done``) besides mmseg's usual ones.
    """

    def __init__(self,
                 meta_keys=('img_id', 'img_path', 'seg_map_path', 'cam_path',
                            'mask_path', 'mask_done', 'ori_shape',
                            'img_shape', 'reduce_zero_label')) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        sample = packed['data_samples']
        if 'cam_keys' in results:
            sample.set_metainfo(dict(cam_keys=np.asarray(
                results['cam_keys'], dtype=np.int64)))
        for key in ('cam', 'high_res_cam'):
            if key in results:
                sample.set_field(torch.from_numpy(results[key]), key)
        return packed
