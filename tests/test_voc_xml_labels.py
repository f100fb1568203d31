"""VOCImageLevelDataset(label_source='xml'): IRN's XML labels, cache, errors."""
import json
import os
import os.path as osp
import shutil
from xml.dom import minidom

import numpy as np
import pytest

import mmc2am  # noqa: F401
from mmc2am.datasets import VOCImageLevelDataset

# IRN's voc12/dataloader.py CAT_LIST
IRN_CATS = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
            'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike',
            'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor']

# A real-VOC-style annotation written by hand: a difficult person with parts
# (part names are not classes), two dogs, a truncated, occluded chair.
HAND_XML = """<annotation>
\t<folder>VOC2012</folder>
\t<filename>{img_id}.jpg</filename>
\t<size><width>64</width><height>64</height><depth>3</depth></size>
\t<segmented>1</segmented>
\t<object>
\t\t<name>person</name>
\t\t<pose>Frontal</pose><truncated>0</truncated><difficult>1</difficult>
\t\t<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>40</ymax></bndbox>
\t\t<part><name>head</name>
\t\t\t<bndbox><xmin>5</xmin><ymin>1</ymin><xmax>12</xmax><ymax>8</ymax></bndbox>
\t\t</part>
\t\t<part><name>hand</name>
\t\t\t<bndbox><xmin>2</xmin><ymin>20</ymin><xmax>5</xmax><ymax>24</ymax></bndbox>
\t\t</part>
\t</object>
\t<object><name>dog</name><difficult>0</difficult></object>
\t<object><name>dog</name><difficult>0</difficult></object>
\t<object>
\t\t<name>chair</name>
\t\t<truncated>1</truncated><occluded>1</occluded><difficult>0</difficult>
\t</object>
</annotation>
"""
# person 14, dog 11, chair 8 (0-based, VOC order)
HAND_LABELS = [8, 11, 14]


def _irn_label(path):
    """IRN's load_image_label_from_xml, on a path (its minidom semantics)."""
    vec = np.zeros(len(IRN_CATS), np.float32)
    for elem in minidom.parse(path).getElementsByTagName('name'):
        if elem.firstChild.data in IRN_CATS:
            vec[IRN_CATS.index(elem.firstChild.data)] = 1
    return np.nonzero(vec)[0].tolist()


@pytest.fixture
def root(voc_root, tmp_path):
    """A private copy: tests below write caches and break files."""
    dst = tmp_path / 'VOC2012'
    shutil.copytree(voc_root, dst)
    return str(dst)


def _dataset(root, **kwargs):
    kwargs.setdefault('ann_file', 'ImageSets/Segmentation/trainaug.txt')
    kwargs.setdefault('label_source', 'xml')
    return VOCImageLevelDataset(data_root=root, **kwargs)


def _ids(root, split='trainaug'):
    with open(osp.join(root, 'ImageSets', 'Segmentation', split + '.txt')) as f:
        return f.read().split()


def _xml(root, img_id):
    return osp.join(root, 'Annotations', img_id + '.xml')


def test_xml_labels_hand_written_and_irn(root):
    ids = _ids(root)
    with open(_xml(root, ids[1]), 'w') as f:
        f.write(HAND_XML.format(img_id=ids[1]))
    ds = _dataset(root)
    got = {d['img_id']: d['gt_label'] for d in ds}
    assert got[ids[1]] == HAND_LABELS  # difficult person kept, parts not
    with open(osp.join(root, 'meta.json')) as f:
        meta = json.load(f)
    for img_id in ids:
        # IRN's own reading of every file gives the same labels
        assert got[img_id] == _irn_label(_xml(root, img_id)), img_id
        if img_id != ids[1]:
            # generated XML names the mask's classes
            assert got[img_id] == [c - 1 for c in
                                   meta['images'][img_id]['labels']]
    assert 'XML annotations in' in repr(ds)


def test_xml_cache_used_and_invalidated(root, monkeypatch):
    ids = _ids(root)
    labels = [d['gt_label'] for d in _dataset(root)]
    cache = osp.join(root, 'ImageSets', 'Segmentation',
                     'trainaug.Annotations.labels.json')
    assert osp.isfile(cache)
    # the mask labels get their own cache file, not the XML one
    _dataset(root, label_source='mask')
    assert osp.isfile(osp.join(root, 'ImageSets', 'Segmentation',
                               'trainaug.SegmentationClassAug.labels.json'))

    calls = []
    orig = VOCImageLevelDataset._labels_from_xml

    def counting(self, path):
        calls.append(path)
        return orig(self, path)

    monkeypatch.setattr(VOCImageLevelDataset, '_labels_from_xml', counting)
    assert [d['gt_label'] for d in _dataset(root)] == labels
    assert calls == []  # served from the cache

    path = _xml(root, ids[0])
    with open(path, 'w') as f:
        f.write(HAND_XML.format(img_id=ids[0]))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    new = _dataset(root)
    assert len(calls) == len(ids)
    assert new.get_data_info(0)['gt_label'] == HAND_LABELS

    # one explicit cache path for both sources: the key tells them apart
    _dataset(root, label_cache=str(root) + '/one.json')
    assert _dataset(root, label_source='mask', label_cache=str(root) +
                    '/one.json').get_data_info(0)['gt_label'] == labels[0]


def test_ann_path_is_configurable_and_label_file_wins(root):
    ids = _ids(root, 'train')
    os.rename(osp.join(root, 'Annotations'), osp.join(root, 'MyXML'))
    ds = _dataset(root, ann_file='ImageSets/Segmentation/train.txt',
                  label_cache=None,
                  data_prefix=dict(img_path='JPEGImages', ann_path='MyXML'))
    assert ds.get_data_info(0)['img_id'] == ids[0]
    labels = {d['img_id']: d['gt_label'] for d in ds}
    with open(osp.join(root, 'labels.json'), 'w') as f:
        json.dump({i: [5] for i in ids}, f)
    # no Annotations folder, but the label file is read, not the XML
    ds = _dataset(root, ann_file='ImageSets/Segmentation/train.txt',
                  label_file='labels.json')
    assert all(d['gt_label'] == [5] for d in ds)
    assert labels != {i: [5] for i in ids}


@pytest.mark.parametrize('content, error', [
    (None, FileNotFoundError),
    ('<annotation><object><name>dog</name>', 'not a valid XML'),
    ('<annotation><object><name>unicorn</name></object></annotation>',
     "object class 'unicorn' is not one of the 20 classes"),
    ('<annotation><object><difficult>0</difficult></object></annotation>',
     'without a <name>'),
    ('<annotation><object><name> </name></object></annotation>',
     'without a <name>'),
    ('<annotation><filename>x.jpg</filename></annotation>',
     'no foreground class'),
])
def test_bad_xml_is_named(root, content, error):
    path = _xml(root, _ids(root)[2])
    if content is None:
        os.remove(path)
    else:
        with open(path, 'w') as f:
            f.write(content)
    exc = error if isinstance(error, type) else ValueError
    with pytest.raises(exc) as e:
        _dataset(root, label_cache=None)
    assert path in str(e.value)
    if not isinstance(error, type):
        assert error in str(e.value)


def test_background_only_xml_kept_in_test_mode(root):
    ids = _ids(root, 'train')
    with open(_xml(root, ids[0]), 'w') as f:
        f.write('<annotation><filename>x.jpg</filename></annotation>')
    ds = _dataset(root, ann_file='ImageSets/Segmentation/train.txt',
                  data_prefix=dict(img_path='JPEGImages',
                                   seg_map_path='SegmentationClass'),
                  test_mode=True, label_cache=None)
    assert ds.get_data_info(0)['gt_label'] == []
    # the seed pipeline still gets its mask
    assert ds.get_data_info(0)['seg_map_path'].endswith(
        osp.join('SegmentationClass', ids[0] + '.png'))


def test_unknown_label_source():
    with pytest.raises(ValueError, match="label_source must be one of.*'json'"):
        VOCImageLevelDataset(data_root='nowhere', ann_file='x.txt',
                             label_source='json')
