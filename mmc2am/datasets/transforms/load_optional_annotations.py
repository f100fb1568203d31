"""mmseg's ``LoadAnnotations`` for splits where only some images have masks."""
from mmseg.datasets.transforms import LoadAnnotations

from mmc2am.registry import TRANSFORMS

__all__ = ['LoadOptionalAnnotations']


@TRANSFORMS.register_module()
class LoadOptionalAnnotations(LoadAnnotations):
    """Load ``gt_seg_map`` when the image has a mask, else do nothing.

    The mask stages run over train_aug, of which only VOC ``train`` has the
    official masks: an image whose ``seg_map_path`` is None (see
    :class:`mmc2am.datasets.CAMFileDataset`) gets its pseudo-mask written
    but is not scored. Same arguments as mmseg's ``LoadAnnotations``.
    """

    def transform(self, results: dict) -> dict:
        if results.get('seg_map_path') is None:
            return results
        return super().transform(results)
