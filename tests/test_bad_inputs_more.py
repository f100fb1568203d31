"""The last bad inputs get an error that names them (issue 28).

Tiny images, wrong or missing checkpoints, a train split smaller than a
batch, CAM files of another size, misspelt ``--cfg-options`` keys, all-zero
CAMs and XML with entities: each is refused (or, for all-zero CAMs, warned
about with a count) naming the file or the setting, before anything is
written.
"""
import logging
import os
import os.path as osp
import uuid

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers everything)
from mmc2am.cam.cam_file import cam_file_path, save_cam_file
from mmc2am.cam.multi_scale import resize_image
from mmc2am.datasets import VOCImageLevelDataset
from mmc2am.datasets.transforms.load_cam_file import LoadCAMFile
from mmc2am.engine.hooks.cam_file_hook import CAMFileHook
from mmc2am.models.cam_generators import MultiScaleCAM
from mmc2am.models.crf.crf_confident_labels import CRFConfidentLabels
from mmc2am.testing import run_tool
from mmc2am.utils import find_config
from mmc2am.utils.input_checks import missing_prefixes

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FIX = osp.join(REPO, 'tests', 'data', 'mask_stages')
CLS_CONFIG = find_config('cam_r18_gen.py')
RW_CONFIG = find_config('irn_r18_gen_cam.py')
TINY_IRNET = ['model.backbone.stem_channels=4',
              'model.backbone.base_channels=4',
              'model.in_channels=[4,4,8,16,32]']

pytestmark = pytest.mark.usefixtures('one_thread')


def written(folder):
    """The outputs (masks, CAM files, checkpoints, metrics) under a folder;
    the runner's log and config dump are not outputs."""
    out = []
    for d, _, files in os.walk(folder):
        out += [osp.join(d, f) for f in files
                if f.endswith(('.png', '.npz', '.pth'))
                or f == 'test_metrics.json']
    return out


@pytest.fixture
def log_file(tmp_path):
    """A fresh current MMLogger writing to a file; the file's path."""
    path = str(tmp_path / 'warnings.log')
    MMLogger.get_instance(f'bad_inputs_{uuid.uuid4().hex}', log_file=path,
                          log_level='INFO')
    yield path
    for h in MMLogger.get_current_instance().handlers:
        h.flush()


def _read_log(path):
    for h in MMLogger.get_current_instance().handlers:
        h.flush()
    with open(path) as f:
        return f.read()


# ---------------------------------------------------------------- case 1
class _TinyCAM(torch.nn.Module):
    """``forward_cam``: a 1x1 conv of the image, 3 classes."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward_cam(self, x):
        return torch.relu(self.conv(x))


def test_resize_image_to_zero_names_the_scale():
    with pytest.raises(ValueError, match='CAM scale 0.5') as e:
        resize_image(torch.zeros(1, 3, 1, 1), 0.5)
    assert '1x1' in str(e.value) and '0x0' in str(e.value)


def test_one_pixel_image_names_the_image_and_scale():
    sample = DataSample(metainfo=dict(img_shape=(1, 1),
                                      img_path='/data/tiny.jpg'))
    sample.set_gt_label([2])
    gen = MultiScaleCAM(scales=(1.0, 0.5))
    with pytest.raises(ValueError, match='CAM scale 0.5') as e:
        gen(_TinyCAM(), torch.zeros(1, 3, 1, 1), [sample])
    assert '/data/tiny.jpg' in str(e.value) and '1x1' in str(e.value)
    # the same image is fine at scales that keep a pixel
    out = MultiScaleCAM(scales=(1.0, 2.0))(
        _TinyCAM(), torch.zeros(1, 3, 1, 1), [sample])
    assert tuple(out[0].high_res_cam.shape) == (1, 1, 1)


def test_one_pixel_image_in_the_inferencer(tmp_path):
    from mmc2am.apis import CAMInferencer
    path = str(tmp_path / 'one_pixel.png')
    cv2.imwrite(path, np.full((1, 1, 3), 128, np.uint8))
    init_default_scope('mmc2am')
    model = MODELS.build(Config.fromfile(CLS_CONFIG).model)
    ckpt = str(tmp_path / 'cls.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    inferencer = CAMInferencer(CLS_CONFIG, ckpt, device='cpu')
    with pytest.raises(ValueError, match=r'CAM scale 0\.5') as e:
        inferencer(path, labels=[[3]])
    assert path in str(e.value)


# ---------------------------------------------------------------- case 2
def test_train_split_smaller_than_a_batch(voc_root, tmp_path):
    ids = str(tmp_path / 'three.txt')
    with open(osp.join(voc_root, 'ImageSets/Segmentation/train.txt')) as f:
        three = f.read().split()[:3]
    with open(ids, 'w') as f:
        f.write('\n'.join(three) + '\n')
    work = tmp_path / 'work'
    with pytest.raises(ValueError, match='drop_last=True') as e:
        run_tool('train.py', [
            CLS_CONFIG, '--work-dir', str(work), '--cfg-options',
            f'train_dataloader.dataset.data_root={voc_root}',
            f'val_dataloader.dataset.data_root={voc_root}',
            f'train_dataloader.dataset.ann_file={ids}',
            'train_dataloader.batch_size=8', 'log_level=WARNING'])
    msg = str(e.value)
    assert ids in msg and 'has 3 images' in msg
    assert 'batch of 8' in msg and '8 per process x 1 processes' in msg
    assert written(work) == []


# ---------------------------------------------------------------- case 3
def _image_and_cams(tmp_path, img_size, cam_size, zero=False):
    img = str(tmp_path / 'img.png')
    cv2.imwrite(img, np.full(img_size + (3, ), 100, np.uint8))
    h, w = cam_size
    high = np.zeros((1, h, w), np.float32)
    if not zero:
        high[0, : h // 2] = 1.0
    cam = high[:, ::4, ::4]
    path = cam_file_path(str(tmp_path), 'img')
    save_cam_file(path, np.array([4]), cam, high)
    return img, path


def test_cam_file_of_another_size_is_refused_on_load(tmp_path):
    from mmcv.transforms import LoadImageFromFile
    img, path = _image_and_cams(tmp_path, (24, 32), (32, 32))
    results = LoadImageFromFile()(dict(img_path=img))
    with pytest.raises(ValueError, match='CAM file') as e:
        LoadCAMFile()(dict(results, cam_path=path))
    msg = str(e.value)
    assert path in msg and img in msg and '8x8' in msg and '24x32' in msg
    # the matching file loads
    img, path = _image_and_cams(tmp_path, (24, 32), (24, 32))
    out = LoadCAMFile()(dict(LoadImageFromFile()(dict(img_path=img)),
                             cam_path=path))
    assert out['high_res_cam'].shape == (1, 24, 32)


@pytest.mark.parametrize('cam_key', ['high_res_cam', 'cam'])
def test_crf_model_refuses_cams_of_another_size(cam_key):
    from mmseg.structures import SegDataSample
    model = CRFConfidentLabels(t_fg=0.3, t_bg=0.05, mode='threshold',
                               cam_key=cam_key)
    sample = SegDataSample(metainfo=dict(
        img_shape=(24, 32), cam_path='/cams/x.npz', img_path='/img/x.jpg',
        cam_keys=np.array([4])))
    sample.set_field(torch.ones(1, 20, 20), cam_key)
    with pytest.raises(ValueError, match='/cams/x.npz') as e:
        model([torch.zeros(3, 24, 32, dtype=torch.uint8)], [sample])
    assert '20x20' in str(e.value) and '24x32' in str(e.value)
    # the right size makes a mask
    good = (24, 32) if cam_key == 'high_res_cam' else (6, 8)
    sample.set_field(torch.ones((1, ) + good), cam_key)
    out = model([torch.zeros(3, 24, 32, dtype=torch.uint8)], [sample])
    assert tuple(out[0].pred_sem_seg.data.shape) == (1, 24, 32)


# ------------------------------------------------------------ cases 4, 5
@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """The classifier's checkpoint (random init) and the tiny IRNet's."""
    init_default_scope('mmc2am')
    model = MODELS.build(Config.fromfile(CLS_CONFIG).model)
    path = str(tmp_path_factory.mktemp('ckpt') / 'cls.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return dict(cls=path, irn=osp.join(FIX, 'irnet_tiny.pth'))


def _rw_args(voc_root, work):
    return ['--work-dir', str(work), '--cfg-options',
            f'test_dataloader.dataset.data_root={voc_root}',
            f"test_dataloader.dataset.ann_file={osp.join(FIX, 'ids.txt')}",
            f"test_dataloader.dataset.cam_dir={osp.join(FIX, 'cams')}",
            f'test_evaluator.output_dir={work}', 'log_level=WARNING',
            *TINY_IRNET]


def _seed_args(voc_root, work):
    return ['--work-dir', str(work), '--cfg-options',
            f'test_dataloader.dataset.data_root={voc_root}',
            'log_level=WARNING']


@pytest.mark.parametrize('which', ['cls', None])
def test_random_walk_test_refuses_a_wrong_or_no_checkpoint(
        which, checkpoints, voc_root, tmp_path):
    work = tmp_path / 'rw'
    ckpt = [checkpoints[which]] if which else []
    with pytest.raises(ValueError) as e:
        run_tool('test.py', [RW_CONFIG, *ckpt, *_rw_args(voc_root, work)])
    msg = str(e.value)
    if which:
        assert checkpoints['cls'] in msg and 'missing' in msg
        # the boundary branch the classifier never had
        assert 'edge' in msg
    else:
        assert 'no checkpoint was given' in msg
    assert written(work) == [], 'masks or metrics written'


@pytest.mark.parametrize('which', ['irn', None])
def test_seed_test_refuses_a_wrong_or_no_checkpoint(which, checkpoints,
                                                   voc_root, tmp_path):
    work = tmp_path / 'seeds'
    ckpt = [checkpoints[which]] if which else []
    with pytest.raises(ValueError) as e:
        run_tool('test.py', [CLS_CONFIG, *ckpt, *_seed_args(voc_root, work)])
    msg = str(e.value)
    if which:
        assert checkpoints['irn'] in msg and 'head' in msg
    else:
        assert 'no checkpoint was given' in msg and 'head' in msg
    assert written(work) == [], 'metrics written'


def test_matching_checkpoint_and_weightless_model_pass(tmp_path):
    from mmc2am.utils.input_checks import check_test_checkpoint
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    path = str(tmp_path / 'own.pth')
    # as saved by a DDP run, with an extra key
    torch.save(dict(state_dict={'module.' + k: v for k, v in
                                model.state_dict().items()}, extra=1), path)
    check_test_checkpoint(model, path)
    check_test_checkpoint(
        CRFConfidentLabels(t_fg=0.3, t_bg=0.05, mode='threshold'), None)
    wide = str(tmp_path / 'wide.pth')
    torch.save(dict(state_dict=torch.nn.Sequential(
        torch.nn.Linear(2, 4)).state_dict()), wide)
    with pytest.raises(ValueError, match='2 of another shape, under 0'):
        check_test_checkpoint(model, wide)


def test_missing_prefixes_names_whole_modules():
    keys = ['backbone.a.weight', 'backbone.a.bias', 'backbone.b.weight',
            'head.conv.weight', 'edge.0.weight', 'edge.1.weight']
    assert missing_prefixes(keys, ['edge.0.weight', 'edge.1.weight',
                                   'backbone.b.weight']) == [
        'backbone.b', 'edge']


# ---------------------------------------------------------------- case 6
@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_misspelt_top_level_cfg_option(tool, tmp_path):
    with pytest.raises(KeyError, match="'load_frm'") as e:
        run_tool(tool, [CLS_CONFIG, '--work-dir', str(tmp_path / 'w'),
                        '--cfg-options', 'load_frm=/x/epoch_1.pth'])
    assert "did you mean 'load_from'" in str(e.value)
    assert not osp.exists(tmp_path / 'w')


def test_known_top_level_cfg_options_pass():
    from mmc2am.utils.input_checks import check_cfg_options
    cfg = Config.fromfile(CLS_CONFIG)
    check_cfg_options(cfg, {'load_from': 'x', 'randomness.seed': 1,
                            'train_cfg.max_epochs': 1, 'env_cfg.x': 1},
                      'tools/train.py')


# ---------------------------------------------------------------- case 7
def test_all_zero_cams_are_counted_when_read(tmp_path, log_file):
    from mmcv.transforms import LoadImageFromFile
    img, path = _image_and_cams(tmp_path, (8, 8), (8, 8), zero=True)
    results = LoadImageFromFile()(dict(img_path=img))
    load = LoadCAMFile()
    for _ in range(3):
        load(dict(results, cam_path=path))
    assert load.num_all_zero == 3
    log = _read_log(log_file)
    assert '1 CAM file(s) read so far have all-zero CAMs' in log
    assert '2 CAM file(s)' in log and '3 CAM file(s)' not in log
    assert path in log


def test_all_zero_cams_are_counted_when_written(tmp_path, log_file):
    hook = CAMFileHook(out_dir=str(tmp_path))
    hook._dir = str(tmp_path)
    for i, scale in enumerate([0.0, 1.0, 0.0]):
        s = DataSample(metainfo=dict(img_id=f'im{i}',
                                     cam_keys=torch.tensor([1])))
        s.set_field(torch.full((1, 2, 2), scale), 'cam')
        s.set_field(torch.full((1, 8, 8), scale), 'high_res_cam')
        hook.write(s)
    hook.after_test_epoch(None)
    log = _read_log(log_file)
    assert '2 of the 3 images of this process have all-zero CAMs' in log
    assert 'im0, im2' in log
    assert logging.getLevelName(logging.WARNING) in log


# ------------------------------------------------------------------ XML
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<annotation><object><name>&lol3;</name></object></annotation>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotation><object><name>&xxe;</name></object></annotation>
"""


@pytest.mark.parametrize('text', [BILLION_LAUGHS, EXTERNAL])
def test_xml_with_entities_is_refused(text, voc_root, tmp_path):
    import shutil
    root = tmp_path / 'VOC2012'
    shutil.copytree(voc_root, root)
    ann = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    with open(ann) as f:
        ids = f.read().split()[:2]
    with open(tmp_path / 'two.txt', 'w') as f:
        f.write('\n'.join(ids) + '\n')
    bad = osp.join(root, 'Annotations', f'{ids[1]}.xml')
    with open(bad, 'w') as f:
        f.write(text)
    with pytest.raises(ValueError, match='DTD') as e:
        VOCImageLevelDataset(data_root=str(root), label_cache=None,
                             label_source='xml',
                             ann_file=str(tmp_path / 'two.txt'),
                             data_prefix=dict(img_path='JPEGImages',
                                              ann_path='Annotations'))
    assert bad in str(e.value)
