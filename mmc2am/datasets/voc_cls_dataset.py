"""Image-level multi-label targets for a PASCAL VOC 2012 segmentation layout.

mmpretrain's ``VOC`` dataset reads the classification layout
(``ImageSets/Main`` + XML). WSSS trains on the segmentation split
``train_aug`` (10,582 ids, masks in ``SegmentationClassAug`` as mmseg's
``voc_aug.py`` converter writes them), so this dataset takes its image labels
from the masks (the class ids present, minus background 0 and ignore 255) or
from a label file (IRN's ``cls_labels.npy`` or a JSON file).

Reading 10,582 masks takes tens of seconds, so the labels read from masks are
cached in a small JSON file beside the ann file (``label_cache='auto'``),
valid while the ann file and every mask keep their size and mtime; if the
folder is read-only the cache is skipped with a warning.
"""
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.fileio import list_from_file
from mmengine.logging import print_log
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.datasets.categories import VOC2007_CATEGORIES
from mmpretrain.registry import DATASETS
from PIL import Image

from mmc2am.utils.io import atomic_open

from .irn_cls_labels import load_irn_cls_labels

_CACHE_VERSION = 1


@DATASETS.register_module()
class VOCImageLevelDataset(MultiLabelDataset):
    """VOC segmentation-layout images with image-level labels.

    Each data info holds ``img_path``, ``seg_map_path`` (when the mask
    folder is configured), ``gt_label`` (sorted 0-based class indices,
    background excluded) and ``img_id``.

    Args:
        data_root (str): The ``VOC2012`` folder.
        ann_file (str): Id list, relative to ``data_root``, e.g.
            ``'ImageSets/Segmentation/trainaug.txt'``.
        data_prefix (dict, optional): ``img_path`` and ``seg_map_path``
            folders, relative to ``data_root``. None means
            ``dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')``.
        label_file (str, optional): Labels instead of masks: IRN's
            ``cls_labels.npy`` (a pickled dict ``id -> C-dim 0/1 vector``; keys
            as IRN writes them, ints of the id without ``_``, or strings;
            read by :func:`load_irn_cls_labels`, which runs no code from the
            file) or a ``.json`` dict ``id -> list of class indices`` (or
            C-dim vector). Relative paths are joined with ``data_root``.
            Defaults to None (labels from the masks).
        img_suffix (str): Defaults to '.jpg'.
        seg_map_suffix (str): Defaults to '.png'.
        ignore_index (int): Mask value that is not a class. Defaults to 255.
        label_cache (str, optional): ``'auto'`` (JSON beside the ann file),
            a path, or None (no cache). Defaults to 'auto'.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices``, ``metainfo``, ...).

    Raises:
        FileNotFoundError: A listed image or mask is missing (named).
        ValueError: The ann file lists no id; a mask or label entry has a
            class id outside the class list; in training (not
            ``test_mode``), an image has no foreground class. The file is
            named. In ``test_mode`` (seed evaluation) background-only images
            are kept, with an empty ``gt_label``.
    """

    METAINFO = {'classes': VOC2007_CATEGORIES}

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 data_prefix: Union[str, dict, None] = None,
                 label_file: Optional[str] = None,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 ignore_index: int = 255,
                 label_cache: Optional[str] = 'auto',
                 **kwargs):
        if data_prefix is None:
            data_prefix = dict(
                img_path='JPEGImages', seg_map_path='SegmentationClassAug')
        self.label_file = label_file
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.ignore_index = ignore_index
        self.label_cache = label_cache
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    # ------------------------------------------------------------------ #
    def load_data_list(self) -> List[dict]:
        """One data info per id of the ann file."""
        img_ids = [i.strip() for i in list_from_file(self.ann_file)]
        img_ids = [i for i in img_ids if i]
        if not img_ids:
            # mmengine would fail later with "need at least one array to
            # concatenate", naming nothing
            raise ValueError(f'{self.ann_file}: no image ids (empty split '
                             'file)')
        img_dir = self.data_prefix.get('img_path', '')
        seg_dir = self.data_prefix.get('seg_map_path', None)
        data_list = []
        for img_id in img_ids:
            info = dict(
                img_id=img_id,
                img_path=osp.join(img_dir, img_id + self.img_suffix))
            if not osp.isfile(info['img_path']):
                raise FileNotFoundError(
                    f'image of id {img_id!r} listed in {self.ann_file} not '
                    f'found: {info["img_path"]}')
            if seg_dir:
                info['seg_map_path'] = osp.join(
                    seg_dir, img_id + self.seg_map_suffix)
            data_list.append(info)

        if self.label_file is not None:
            labels = self._labels_from_file(img_ids)
        else:
            if not seg_dir:
                raise ValueError('labels come from the masks, but '
                                 'data_prefix has no seg_map_path')
            labels = self._labels_from_masks(
                [d['seg_map_path'] for d in data_list])
        for info, label in zip(data_list, labels):
            info['gt_label'] = label
        return data_list

    # ------------------------------------------------------------------ #
    def _check_label(self, label: Sequence[int], source: str) -> List[int]:
        num_classes = len(self.metainfo['classes'])
        label = sorted(int(c) for c in label)
        # A seed evaluation may hold background-only images (all pixels
        # are then predicted background); only training needs a class.
        if not label and not self.test_mode:
            raise ValueError(f'{source}: no foreground class (an image '
                             'without any class cannot train a classifier)')
        bad = [c for c in label if not 0 <= c < num_classes]
        if bad:
            raise ValueError(
                f'{source}: class index {bad} outside the {num_classes} '
                f'classes {self.metainfo["classes"]}')
        return label

    def _labels_from_mask(self, path: str) -> List[int]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'mask not found: {path}')
        # Palette PNGs: PIL gives the class ids, not the colours.
        ids = np.unique(np.asarray(Image.open(path)))
        ids = ids[(ids != 0) & (ids != self.ignore_index)]
        num_classes = len(self.metainfo['classes'])
        bad = ids[ids > num_classes]
        if bad.size:
            # the pixel values as stored, not the 0-based class indices
            raise ValueError(
                f'{path}: pixel value {bad.tolist()} outside the '
                f'{num_classes} classes (1-{num_classes}; 0 background, '
                f'{self.ignore_index} ignore)')
        return self._check_label([int(i) - 1 for i in ids], path)

    def _labels_from_masks(self, paths: List[str]) -> List[List[int]]:
        cache_path = self._cache_path()
        key = self._cache_key(paths) if cache_path else None
        if cache_path and osp.isfile(cache_path):
            try:
                with open(cache_path) as f:
                    cached = json.load(f)
                if cached.get('key') == key:
                    return [
                        self._check_label(lb, p)
                        for lb, p in zip(cached['labels'], paths)
                    ]
            except (OSError, ValueError, KeyError):
                pass  # unreadable or stale cache: read the masks again
        labels = [self._labels_from_mask(p) for p in paths]
        if cache_path:
            try:
                with atomic_open(cache_path, 'w') as f:
                    json.dump(dict(key=key, labels=labels), f)
            except OSError as e:
                print_log(f'label cache not written ({e}); labels will be '
                          're-read from the masks next time', 'current',
                          logging.WARNING)
        return labels

    def _cache_path(self) -> Optional[str]:
        if self.label_cache is None:
            return None
        if self.label_cache != 'auto':
            return self.label_cache
        seg_dir = osp.basename(
            osp.normpath(self.data_prefix['seg_map_path']))
        stem = osp.splitext(self.ann_file)[0]
        return f'{stem}.{seg_dir}.labels.json'

    def _cache_key(self, paths: List[str]) -> dict:
        """Size and mtime of the ann file and of every mask (a stat each)."""
        def sig(p):
            try:
                st = os.stat(p)
            except FileNotFoundError:
                return None
            return [st.st_size, st.st_mtime_ns]

        return dict(
            version=_CACHE_VERSION,
            ignore_index=self.ignore_index,
            ann_file=sig(self.ann_file),
            masks=[[osp.basename(p)] + (sig(p) or []) for p in paths])

    def _labels_from_file(self, img_ids: List[str]) -> List[List[int]]:
        path = self.label_file
        if not osp.isabs(path):
            path = osp.join(self.data_root, path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'label file not found: {path}')
        if path.endswith('.json'):
            with open(path) as f:
                table: Dict = json.load(f)
        else:
            table = load_irn_cls_labels(path)
        num_classes = len(self.metainfo['classes'])
        labels = []
        for img_id in img_ids:
            # IRN keys its cls_labels.npy by int('2007_000032'.replace('_','')).
            entry = table.get(img_id, None)
            if entry is None and img_id.replace('_', '').isdigit():
                entry = table.get(int(img_id.replace('_', '')), None)
            if entry is None:
                raise ValueError(f'{path}: no labels for image {img_id!r}')
            entry = np.asarray(entry)
            if entry.ndim == 1 and entry.size == num_classes and \
                    set(np.unique(entry).tolist()) <= {0, 1}:
                # a C-dim 0/1 vector (IRN's format)
                entry = np.nonzero(entry)[0]
            labels.append(
                self._check_label(entry.reshape(-1).tolist(),
                                  f'{path} [{img_id}]'))
        return labels

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        body.append(f'Labels from: \t{self.label_file or "masks"}')
        return body
