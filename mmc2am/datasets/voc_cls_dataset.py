"""Image-level multi-label targets for a PASCAL VOC 2012 segmentation layout.

mmpretrain's ``VOC`` dataset reads the classification layout
(``ImageSets/Main`` + XML). WSSS trains on the segmentation split
``train_aug`` (10,582 ids, masks in ``SegmentationClassAug`` as mmseg's
``voc_aug.py`` converter writes them), so this dataset takes its image labels
from one of:

- the masks (``label_source='mask'``, the default): the class ids present,
  minus background 0 and ignore 255;
- the XML annotations (``label_source='xml'``): every ``<object><name>``,
  difficult objects included, as IRN's ``voc12/make_cls_labels.py`` builds
  the ``cls_labels.npy`` that the published IRN / C2AM numbers trained on;
- a label file (``label_file``: IRN's ``cls_labels.npy`` or a JSON file),
  which wins over ``label_source``.

Reading 10,582 masks (or XML files) takes tens of seconds, so the labels read
from them are cached in a small JSON file beside the ann file
(``label_cache='auto'``), valid while the ann file and every mask / XML file
keep their size and mtime; if the folder is read-only the cache is skipped
with a warning.
"""
import json
import logging
import os
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.fileio import list_from_file
from mmengine.logging import print_log
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.datasets.categories import VOC2007_CATEGORIES
from PIL import Image

from mmc2am.registry import DATASETS
from mmc2am.utils.input_checks import parse_xml_no_dtd
from mmc2am.utils.io import atomic_open

from .irn_cls_labels import load_irn_cls_labels

# 2: the key names the label source and the class list
_CACHE_VERSION = 2
_LABEL_SOURCES = ('mask', 'xml')


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
        data_prefix (dict, optional): ``img_path``, ``seg_map_path`` and
            (XML labels) ``ann_path`` folders, relative to ``data_root``.
            None means ``dict(img_path='JPEGImages',
            seg_map_path='SegmentationClassAug')``; with
            ``label_source='xml'`` a missing ``ann_path`` is
            ``'Annotations'`` (the key mmpretrain's ``VOC`` uses).
        label_source (str): Where the labels come from when no
            ``label_file`` is given: ``'mask'`` (classes present in
            ``<seg_map_path>/<id>.png``) or ``'xml'`` (the classes of every
            ``<object><name>`` of ``<ann_path>/<id>.xml``, difficult objects
            included, IRN's ``cls_labels.npy`` semantics). Defaults to
            'mask'.
        label_file (str, optional): Labels instead of masks: IRN's
            ``cls_labels.npy`` (a pickled dict ``id -> C-dim 0/1 vector``; keys
            as IRN writes them, ints of the id without ``_``, or strings;
            read by :func:`load_irn_cls_labels`, which runs no code from the
            file) or a ``.json`` dict ``id -> list of class indices`` (or
            C-dim vector). Relative paths are joined with ``data_root``.
            Wins over ``label_source``. Defaults to None.
        img_suffix (str): Defaults to '.jpg'.
        seg_map_suffix (str): Defaults to '.png'.
        ignore_index (int): Mask value that is not a class. Defaults to 255.
        label_cache (str, optional): ``'auto'`` (JSON beside the ann file),
            a path, or None (no cache). Defaults to 'auto'.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices``, ``metainfo``, ...).

    Raises:
        FileNotFoundError: A listed image, mask or XML file is missing
            (named).
        ValueError: ``label_source`` is unknown; the ann file lists no id; a
            mask or label entry has a class id outside the class list; an
            XML file is not parsable XML, has an ``<object>`` without a
            ``<name>`` or names a class outside the class list; in training
            (not ``test_mode``), an image has no foreground class. The file
            is named. In ``test_mode`` (seed evaluation) background-only
            images are kept, with an empty ``gt_label``.
    """

    METAINFO = {'classes': VOC2007_CATEGORIES}

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 data_prefix: Union[str, dict, None] = None,
                 label_file: Optional[str] = None,
                 label_source: str = 'mask',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 ignore_index: int = 255,
                 label_cache: Optional[str] = 'auto',
                 **kwargs):
        if label_source not in _LABEL_SOURCES:
            raise ValueError(f'label_source must be one of {_LABEL_SOURCES}, '
                             f'got {label_source!r}')
        if data_prefix is None:
            data_prefix = dict(
                img_path='JPEGImages', seg_map_path='SegmentationClassAug')
        elif isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        if label_source == 'xml' and not data_prefix.get('ann_path'):
            data_prefix = dict(data_prefix, ann_path='Annotations')
        self.label_file = label_file
        self.label_source = label_source
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
        elif self.label_source == 'xml':
            xml_dir = self.data_prefix['ann_path']
            labels = self._cached_labels(
                [osp.join(xml_dir, i + '.xml') for i in img_ids], xml_dir,
                self._labels_from_xml)
        else:
            if not seg_dir:
                raise ValueError('labels come from the masks, but '
                                 'data_prefix has no seg_map_path')
            labels = self._cached_labels(
                [d['seg_map_path'] for d in data_list], seg_dir,
                self._labels_from_mask)
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

    def _labels_from_xml(self, path: str) -> List[int]:
        """Classes of every ``<object><name>`` of a VOC XML annotation.

        IRN's semantics (``load_image_label_from_xml``): difficult,
        truncated and occluded objects all count. mmpretrain's
        ``VOC._get_labels_from_xml`` is not reused: it moves difficult
        objects into a separate ``gt_label_difficult``, silently skips
        unknown names and fails without naming the file on a missing tag.
        Part names (``<object><part><name>head``) are not object names and
        are not read (IRN reads them and drops them as non-classes).
        """
        if not osp.isfile(path):
            raise FileNotFoundError(f'XML annotation not found: {path}')
        try:
            # no DTD, so no entity expansion (billion laughs, external
            # entities): ValueError naming the file
            root = parse_xml_no_dtd(path)
        except ET.ParseError as e:
            raise ValueError(f'{path}: not a valid XML annotation ({e})') \
                from None
        classes = self.metainfo['classes']
        index = {name: i for i, name in enumerate(classes)}
        label = set()
        for obj in root.iter('object'):
            name = obj.find('name')
            # strip(): a name written over several lines is still the class
            text = (name.text or '').strip() if name is not None else ''
            if not text:
                raise ValueError(f'{path}: an <object> without a <name>')
            if text not in index:
                # IRN would drop it silently; a typo or a class list that
                # does not fit the data must not lose labels unnoticed.
                raise ValueError(
                    f'{path}: object class {text!r} is not one of the '
                    f'{len(classes)} classes {tuple(classes)}')
            label.add(index[text])
        return self._check_label(label, path)

    def _cached_labels(self, paths: List[str], folder: str,
                       read: Callable[[str], List[int]]) -> List[List[int]]:
        """Labels of ``paths`` (masks or XML files) by ``read``, or from the
        label cache while it matches every file's size and mtime."""
        cache_path = self._cache_path(folder)
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
        labels = [read(p) for p in paths]
        if cache_path:
            try:
                with atomic_open(cache_path, 'w') as f:
                    json.dump(dict(key=key, labels=labels), f)
            except OSError as e:
                print_log(f'label cache not written ({e}); labels will be '
                          f're-read from {folder} next time', 'current',
                          logging.WARNING)
        return labels

    def _cache_path(self, folder: str) -> Optional[str]:
        if self.label_cache is None:
            return None
        if self.label_cache != 'auto':
            return self.label_cache
        # one cache per label folder: masks and XML labels never collide
        name = osp.basename(osp.normpath(folder))
        stem = osp.splitext(self.ann_file)[0]
        return f'{stem}.{name}.labels.json'

    def _cache_key(self, paths: List[str]) -> dict:
        """Label source, class list, and size and mtime of the ann file and
        of every label file (a stat each)."""
        def sig(p):
            try:
                st = os.stat(p)
            except FileNotFoundError:
                return None
            return [st.st_size, st.st_mtime_ns]

        return dict(
            version=_CACHE_VERSION,
            source=self.label_source,
            classes=list(self.metainfo['classes']),
            ignore_index=self.ignore_index,
            ann_file=sig(self.ann_file),
            files=[[osp.basename(p)] + (sig(p) or []) for p in paths])

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
        if self.label_file is not None:
            source = self.label_file
        elif self.label_source == 'xml':
            source = f'XML annotations in {self.data_prefix["ann_path"]}'
        else:
            source = 'masks'
        body.append(f'Labels from: \t{source}')
        return body
