"""CAMInferencer: the seed stage's CAMs and seeds on a user's own images;
folders of mixed sizes, arrays, pseudo-masks, the demo, and bad inputs."""
import glob
import json
import os
import os.path as osp
import runpy
import sys

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.apis import CAMInferencer
from mmc2am.cam import cam_file_path, load_cam_file
from mmc2am.cam.pseudo_mask import cam_to_pseudo_mask, load_label_png
from mmc2am.testing import VOC_CLASSES
from mmc2am.utils import find_config
from mmc2am.visualization.cam_visualizer import seed_from_cams

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = find_config('cam_r18_gen.py')
NUM_IMAGES = 4  # of VOC `train`, the seed stage's test split
THRESHOLDS = (0.1, 0.3, 0.5)


# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory) -> str:
    """A ResNet-18 CAM classifier (cam_r18_gen.py, random init) as a
    checkpoint whose meta names the VOC classes, as a runner's does."""
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.backbone.init_cfg is None
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # Non-trivial BN statistics (a trained model's are not mean 0, var 1).
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
    path = str(tmp_path_factory.mktemp('ckpt') / 'cam_r18.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=VOC_CLASSES[1:]))),
               path)
    return path


@pytest.fixture(scope='module')
def inferencer(ckpt) -> CAMInferencer:
    return CAMInferencer(CONFIG, ckpt, device='cpu')


def _train_ids(voc_root, n=NUM_IMAGES):
    with open(osp.join(voc_root, 'ImageSets/Segmentation/train.txt')) as f:
        return [line.strip() for line in f if line.strip()][:n]


def _gt(voc_root, img_id):
    return load_label_png(
        osp.join(voc_root, 'SegmentationClass', img_id + '.png'))


def _miou(seeds, gts, n=21):
    """Hand-computed seed mIoU (percent): one confusion matrix over all
    pixels whose label is not 255, IoU per class, NaN-mean."""
    conf = np.zeros((n, n), np.int64)
    for seed, gt in zip(seeds, gts):
        valid = gt != 255
        conf += np.bincount(n * gt[valid].astype(np.int64) + seed[valid],
                            minlength=n * n).reshape(n, n)
    tp = np.diag(conf).astype(float)
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = tp / (conf.sum(0) + conf.sum(1) - tp)
    return float(np.nanmean(iou) * 100)


def test_same_cams_and_seeds_as_the_test_pipeline(voc_root, ckpt, inferencer,
                                                  tmp_path, monkeypatch):
    """tools/test.py (CAM mode, CAM files) and the inferencer, given the
    same labels, give the same CAM files, CAMs and seeds."""
    work = str(tmp_path / 'test')
    monkeypatch.setattr(sys, 'argv', [
        'tools/test.py', CONFIG, ckpt, '--work-dir', work, '--cfg-options',
        f'test_dataloader.dataset.data_root={voc_root}',
        'test_dataloader.dataset.label_cache=None',
        f'test_dataloader.dataset.indices={NUM_IMAGES}',
        f'test_evaluator.thresholds={list(THRESHOLDS)}',
        'default_hooks.cam_file.type=CAMFileHook',
        f'default_hooks.cam_file.out_dir={work}/cams', 'log_level=WARNING'
    ])
    runpy.run_path(osp.join(ROOT, 'tools', 'test.py'), run_name='__main__')
    curve_file, = glob.glob(osp.join(work, '*', 'seed_sweep.json'))
    with open(curve_file) as f:
        curve = json.load(f)
    assert curve['thresholds'] == list(THRESHOLDS)
    assert curve['num_images'] == NUM_IMAGES

    ids = _train_ids(voc_root)
    gts = [_gt(voc_root, i) for i in ids]
    # The seed stage's labels: the classes of the mask (VOC id - 1).
    labels = {i: sorted(int(c) - 1 for c in np.unique(gt) if 0 < c < 255)
              for i, gt in zip(ids, gts)}
    paths = [osp.join(voc_root, 'JPEGImages', i + '.jpg') for i in ids]
    out = str(tmp_path / 'out')
    preds = inferencer(paths, labels=labels, bg_thr=THRESHOLDS[0],
                       out_dir=out)['predictions']

    peaks = []
    for img_id, pred in zip(ids, preds):
        ref = load_cam_file(cam_file_path(osp.join(work, 'cams'), img_id))
        mine = load_cam_file(cam_file_path(osp.join(out, 'cams'), img_id))
        assert pred['name'] == img_id and pred['labels_given']
        assert pred['labels'].tolist() == labels[img_id]
        assert mine['keys'].tolist() == ref['keys'].tolist() == labels[img_id]
        peaks += ref['high_res'].max(axis=(1, 2)).tolist()
        # Same computation, same float16 files, bit for bit.
        np.testing.assert_array_equal(mine['high_res'], ref['high_res'])
        np.testing.assert_array_equal(mine['cam'], ref['cam'])
        # The float32 CAMs returned are the file's up to float16 rounding.
        np.testing.assert_allclose(pred['cams'], ref['high_res'],
                                   rtol=2**-11, atol=1e-7)
        assert pred['cams'].shape == (len(labels[img_id]), 64, 64)
        np.testing.assert_array_equal(
            pred['seed'], seed_from_cams(pred['cams'], pred['labels'],
                                         THRESHOLDS[0]))
        np.testing.assert_array_equal(
            load_label_png(osp.join(out, 'seeds', img_id + '.png')),
            pred['seed'])
    # Not a comparison of empty maps: most classes light up somewhere.
    assert np.mean(np.array(peaks) > 0.99) > 0.5, peaks
    # The seeds are the SeedMetric's: the same mIoU at every threshold.
    for t, ref_miou in zip(THRESHOLDS, curve['mIoU']):
        seeds = [pred['seed'] if t == THRESHOLDS[0] else
                 inferencer(p, labels=labels[i], bg_thr=t)
                 ['predictions'][0]['seed'] for i, p, pred in
                 zip(ids, paths, preds)]
        assert _miou(seeds, gts) == pytest.approx(ref_miou, abs=1e-9), t


def test_predicted_classes_are_the_sigmoid_scores_over_the_threshold(
        voc_root, inferencer):
    path = osp.join(voc_root, 'JPEGImages', _train_ids(voc_root, 1)[0] + '.jpg')
    # By hand: sigmoid(conv1x1(GAP(features))) of the normalised RGB image.
    model = inferencer.model
    rgb = mmcv.imread(path, channel_order='rgb').astype(np.float32)
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    x = torch.from_numpy((rgb - mean) / std).permute(2, 0, 1)[None]
    with torch.no_grad():
        scores = torch.sigmoid(model.head(model.extract_feat(x)))[0].numpy()
    thr = float(np.sort(scores)[-3])  # the top three classes pass
    pred = inferencer(path, score_thr=thr)['predictions'][0]
    np.testing.assert_allclose(pred['scores'], scores, rtol=1e-5, atol=1e-6)
    assert not pred['labels_given']
    assert pred['labels'].tolist() == np.sort(np.argsort(-scores)[:3]).tolist()
    assert pred['classes'] == [VOC_CLASSES[k + 1] for k in pred['labels']]
    # No class over the threshold: the top class, as every image has one.
    top = inferencer(path, score_thr=1.1)['predictions'][0]
    assert top['labels'].tolist() == [int(scores.argmax())]


@pytest.fixture
def mixed_folder(voc_root, tmp_path):
    """Three images of different sizes (and a non-image file) in a folder."""
    folder = tmp_path / 'mine'
    folder.mkdir()
    ids = _train_ids(voc_root, 3)
    for img_id, (h, w) in zip(ids, [(64, 64), (48, 80), (37, 53)]):
        img = cv2.imread(osp.join(voc_root, 'JPEGImages', img_id + '.jpg'))
        cv2.imwrite(str(folder / f'{img_id}.png'), cv2.resize(img, (w, h)))
    (folder / 'notes.txt').write_text('not an image')
    return str(folder)


def _png_names(folder):
    return sorted(osp.splitext(f)[0] for f in os.listdir(folder)
                  if f.endswith('.png'))


def test_folder_of_mixed_sizes_batched_and_numpy_input(inferencer,
                                                       mixed_folder, tmp_path):
    labels = [[0, 14], None, ['dog']]  # names, indices, or predicted
    out = str(tmp_path / 'out')
    result = inferencer(mixed_folder, labels=labels, batch_size=2,
                        out_dir=out, return_vis=True, score_thr=0.99)
    preds, pictures = result['predictions'], result['visualization']
    names = _png_names(mixed_folder)
    assert [p['name'] for p in preds] == names
    assert [p['labels'].tolist() for p in preds[::2]] == [[0, 14], [11]]
    assert [p['labels_given'] for p in preds] == [True, False, True]
    for pred, (h, w) in zip(preds, [(64, 64), (48, 80), (37, 53)]):
        k = len(pred['labels'])
        assert pred['cams'].shape == (k, h, w)
        assert pred['cams_stride4'].shape == (k, -(-h // 4), -(-w // 4))
        assert pred['seed'].shape == (h, w) and pred['seed'].dtype == np.uint8
        assert set(np.unique(pred['seed'])) <= {0, *(pred['labels'] + 1)}
        # A padded batch of mixed sizes gives each image's own results.
        alone = inferencer(pred['img_path'], labels=[pred['labels'].tolist()]
                           )['predictions'][0]
        np.testing.assert_allclose(pred['cams'], alone['cams'], atol=1e-5)
        np.testing.assert_allclose(pred['scores'], alone['scores'],
                                   atol=1e-6)
    # Pictures [image | one panel per class | seed], enlarged to >= 160 px.
    assert pictures[0].shape == (192, 192 * 4, 3)
    for name, picture in zip(names, pictures):
        written = mmcv.imread(osp.join(out, 'vis', name + '.png'),
                              channel_order='rgb')
        np.testing.assert_array_equal(written, picture)
        np.testing.assert_array_equal(
            load_label_png(osp.join(out, 'seeds', name + '.png')),
            preds[names.index(name)]['seed'])
        assert osp.isfile(osp.join(out, 'cams', name + '.npz'))
    with open(osp.join(out, 'predictions.json')) as f:
        summary = json.load(f)
    assert [s['name'] for s in summary['images']] == names
    assert summary['images'][0]['classes'] == ['aeroplane', 'person']

    # An array (BGR, as mmcv.imread) is the same image as its file.
    bgr = cv2.imread(preds[1]['img_path'])
    arr = inferencer([bgr], labels=[preds[1]['labels']])['predictions'][0]
    assert arr['name'] == '00000000' and arr['img_path'] is None
    np.testing.assert_allclose(arr['cams'], preds[1]['cams'], atol=1e-5)


def test_crf_pseudo_mask_uses_the_rgb_image(inferencer, mixed_folder):
    path = sorted(glob.glob(osp.join(mixed_folder, '*.png')))[1]
    pred = inferencer(path, labels=[[4, 11]], pseudo_mask=dict(t_fg=0.4,
                      t_bg=0.1))['predictions'][0]
    rgb = mmcv.imread(path, channel_order='rgb')
    expected = cam_to_pseudo_mask(pred['cams'], pred['labels'], 0.4, 0.1,
                                  img=rgb, mode='crf')
    np.testing.assert_array_equal(pred['pseudo_mask'], expected)
    assert set(np.unique(expected)) <= {0, 5, 12, 255}


def test_bad_inputs_name_the_file(inferencer, mixed_folder, tmp_path):
    broken = tmp_path / 'broken'
    broken.mkdir()
    good = sorted(glob.glob(osp.join(mixed_folder, '*.png')))[0]
    (broken / 'a_good.png').write_bytes(open(good, 'rb').read())
    (broken / 'b_torn.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    with pytest.raises(ValueError, match=r'b_torn\.jpg: not a readable image'):
        inferencer(str(broken))
    (broken / 'b_torn.jpg').write_bytes(b'')
    with pytest.raises(ValueError, match=r'b_torn\.jpg: not a readable image'):
        inferencer(str(broken / 'b_torn.jpg'))

    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match=f'no image files in folder {empty}'):
        inferencer(str(empty))
    (empty / 'readme.txt').write_text('still no image')
    with pytest.raises(ValueError, match='no image files in folder'):
        inferencer(str(empty))
    with pytest.raises(ValueError, match='no input images'):
        inferencer([])
    with pytest.raises(FileNotFoundError, match='image not found: .*nope.jpg'):
        inferencer(str(tmp_path / 'nope.jpg'))
    with pytest.raises(ValueError, match=r'input #0: .* uint8'):
        inferencer(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r'input #1: .*\(8, 8, 4\)'):
        inferencer([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 4),
                                                              np.uint8)])
    with pytest.raises(ValueError, match="labels of a_good: unknown class 'x'"):
        inferencer(str(broken / 'a_good.png'), labels=['x'])
    with pytest.raises(ValueError, match='class index 20 outside'):
        inferencer(str(broken / 'a_good.png'), labels=[20])
    with pytest.raises(ValueError, match='2 label entries for 3 images'):
        inferencer(mixed_folder, labels=[[0], [1]])
    with pytest.raises(ValueError, match=r"labels given for \['zzz'\]"):
        inferencer(mixed_folder, labels={'zzz': [0]})
    with pytest.raises(ValueError, match='share the output name'):
        inferencer([good, good])
    with pytest.raises(ValueError, match=r"pseudo_mask: unknown keys \['tfg'\]"):
        inferencer(good, pseudo_mask=dict(tfg=0.3))


def test_config_name_and_demo(ckpt, mixed_folder, tmp_path, capsys):
    by_name = CAMInferencer('cam_r18_gen', ckpt, device='cpu')
    assert by_name.classes == list(VOC_CLASSES[1:])
    # A misspelt name: the error names the config meant.
    with pytest.raises(FileNotFoundError, match='cam_r18_gen'):
        CAMInferencer('cam_r18_gne', ckpt)

    out = str(tmp_path / 'demo')
    labels = tmp_path / 'labels.json'
    names = _png_names(mixed_folder)
    labels.write_text(json.dumps({names[0]: ['cat', 'dog']}))
    demo = runpy.run_path(osp.join(ROOT, 'demo', 'image_demo.py'))
    result = demo['main']([mixed_folder, CONFIG, ckpt, '--out-dir', out,
                           '--labels', str(labels), '--bg-thr', '0.3',
                           '--pseudo-mask', '--device', 'cpu'])
    text = capsys.readouterr().out
    assert f'{names[0]}: given classes: cat' in text
    assert f'{names[1]}: predicted classes' in text
    for name in names:
        for sub, ext in (('vis', 'png'), ('seeds', 'png'),
                         ('pseudo_masks', 'png'), ('cams', 'npz')):
            assert osp.isfile(osp.join(out, sub, f'{name}.{ext}')), (sub, name)
    assert result['predictions'][0]['labels'].tolist() == [7, 11]
