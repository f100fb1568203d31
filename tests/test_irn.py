"""IRNet model, affinity dataset / transforms, training and the mask stage."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from PIL import Image

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.cam.path_index import PathIndex
from mmc2am.utils import find_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
GEN_CONFIG = osp.join(REPO, 'configs/irn/irn_r18_gen_cam.py')


def build_irnet(**kwargs):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    # IRN's normalisation (the configs'), without their fixed input size
    base = Config.fromfile(find_config('_base_/models/irn_r50.py')).model
    cfg = dict(
        type='mmc2am.IRNet',
        data_preprocessor=dict(base.data_preprocessor, size=None),
        backbone=dict(
            type='ResNet', depth=18, strides=(1, 2, 2, 1),
            norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True),
        in_channels=(64, 64, 128, 256, 512),
        radius=3)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def seg_samples(labels):
    from mmseg.structures import SegDataSample
    out = []
    for lab in labels:
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.as_tensor(lab)[None].long())
        out.append(s)
    return out


def test_irnet_loss_trains_only_the_branch():
    model = build_irnet()
    model.train()
    assert not model.backbone.training, 'the frozen backbone must stay eval'
    inputs = torch.randn(2, 3, 32, 32)
    labels = torch.randint(0, 3, (2, 32, 32))
    labels[:, :, :8] = 255
    losses = model(inputs, seg_samples(labels), mode='loss')
    assert set(losses) == {'loss_bg_pos', 'loss_fg_pos', 'loss_neg'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.edge_levels.parameters())
    assert model.edge_out.weight.grad is not None
    assert model(inputs, mode='tensor').shape == (2, 1, 8, 8)


def test_irnet_loss_equals_irn_index_formulation():
    """The loss from IRN's gathered indices (GetAffinityLabelFromIndices,
    to_affinity, the train_irn reductions) equals the model's."""
    model = build_irnet()
    inputs = torch.randn(2, 3, 48, 48)
    # labels constant over 4x4 cells so the stride-4 sampling is exact
    coarse = torch.randint(0, 4, (2, 12, 12))
    coarse[coarse == 3] = 255
    labels = coarse.repeat_interleave(4, 1).repeat_interleave(4, 2)
    losses = model(inputs, seg_samples(labels), mode='loss')

    with torch.no_grad():
        edge = torch.sigmoid(model.forward_boundary(inputs))[:, 0]
    pi = PathIndex(3)
    src, dst = pi.crop_pair_indices((12, 12))
    e = edge.flatten(1)
    # IRN: 1 - max over the path of each pair, via the path pixels
    aff = torch.stack([
        1 - torch.stack([e[:, torch.as_tensor(src + oy * 12 + ox)]
                         for oy, ox in path.tolist()]).amax(0)
        for path in pi.paths], dim=1)
    seg = coarse.flatten(1)
    lab_from = seg[:, src][:, None]
    lab_to = seg[:, dst]
    valid = (lab_from < 21) & (lab_to < 21)
    eq = lab_from == lab_to
    bg_pos = (eq & valid & (lab_from == 0)).float()
    fg_pos = (eq & valid & (lab_from > 0)).float()
    neg = (~eq & valid).float()
    pos_l = -torch.log(aff + 1e-5)
    neg_l = -torch.log(1. + 1e-5 - aff)
    bg = (bg_pos * pos_l).sum() / (bg_pos.sum() + 1e-5)
    fg = (fg_pos * pos_l).sum() / (fg_pos.sum() + 1e-5)
    ng = (neg * neg_l).sum() / (neg.sum() + 1e-5)
    expected = (bg / 2 + fg / 2 + ng) / 2
    torch.testing.assert_close(
        sum(losses.values()).detach(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('config', ['irn_r50_voc_cam.py', 'irn_r18_gen_c2am.py'])
def test_configs_build_and_run(config):
    from mmseg.registry import MODELS
    cfg = Config.fromfile(find_config(config))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)  # no init_weights: nothing downloaded
    walk = model.test_cfg
    assert walk['radius'] == 5 and walk['beta'] == 10
    assert walk['exp_times'] == 8
    # the method's background score: IRN 0.25, C2AM 0.20
    assert walk['bg_thr'] == (0.25 if config.endswith('_cam.py') else 0.20)
    # the masks go to the work dir (<work_dir>/masks), as CAM files do
    assert cfg.default_hooks.mask_file == dict(type='MaskFileHook')
    assert 'out_dir' not in cfg.test_dataloader.dataset
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1, 16, 16)
    if config == 'irn_r50_voc_cam.py':
        assert cfg.train_dataloader.batch_size == 32
        assert cfg.train_cfg.max_epochs == 3 and model.path_index.radius == 10
        assert cfg.optim_wrapper.optimizer.lr == 0.1
        assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
        # the stages chain through their default folders
        assert cfg.train_dataloader.dataset.label_dir == \
            'work_dirs/crf_voc_cam/masks'
        assert cfg.test_dataloader.dataset.cam_dir == \
            'work_dirs/cam_r50_voc_trainaug/cams'


def test_predict_boundary_flip_and_padding():
    model = build_irnet(test_pad_size=64).eval()
    img = torch.randn(1, 3, 37, 50)
    edge = model.predict_boundary(img)[0]
    assert edge.shape == (10, 13)
    assert edge.min() >= 0 and edge.max() <= 1
    # IRN: pad the image and its mirror to the pad size, crop, average logits
    with torch.no_grad():
        pair = torch.cat([img, img.flip(-1)])
        pair = torch.nn.functional.pad(pair, (0, 14, 0, 27))
        logits = model.forward_boundary(pair)[:, 0, :10, :13]
    expected = torch.sigmoid((logits[0] + logits[1].flip(-1)) / 2)
    torch.testing.assert_close(edge, expected)
    # predict() stores the maps on the samples; img_shape crops the padding
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(img_shape=(37, 50)))
    padded = torch.nn.functional.pad(img, (0, 6, 0, 3))
    out = model(padded, [sample], mode='predict')
    torch.testing.assert_close(out[0].boundary.data[0], edge)


def test_irn_random_crop_and_rescale():
    from mmc2am.datasets.irn_affinity_dataset import IRNRandomRescale
    from mmc2am.datasets.transforms.irn_random_crop import (
        BGR_MEAN,
        IRNRandomCrop,
    )
    np.random.seed(0)
    img = np.random.randint(0, 255, (20, 30, 3), np.uint8)
    seg = np.random.randint(0, 3, (20, 30)).astype(np.uint8)
    res = IRNRandomCrop(crop_size=24)(dict(img=img, gt_seg_map=seg,
                                           seg_fields=['gt_seg_map']))
    out, lab = res['img'], res['gt_seg_map']
    assert out.shape == (24, 24, 3) and lab.shape == (24, 24)
    assert res['img_shape'] == (24, 24)
    # the 20 rows are pasted at a random offset, the rest is mean / ignore
    rows = np.where((lab != 255).any(1))[0]
    assert len(rows) == 20
    pad_rows = [r for r in range(24) if r not in rows]
    np.testing.assert_allclose(out[pad_rows[0], 0], BGR_MEAN)
    # the 30 columns are cropped to 24: a window of the source
    r0 = rows[0]
    matches = [np.array_equal(lab[r0:r0 + 20], seg[:, x:x + 24])
               for x in range(7)]
    assert sum(matches) >= 1
    big = np.zeros((40, 50, 3), np.uint8)
    res = IRNRandomCrop(crop_size=24)(dict(img=big, seg_fields=[]))
    assert res['img'].shape == (24, 24, 3) and res['img'].dtype == np.float32

    rescale = IRNRandomRescale(scale_range=(0.5, 1.5))
    for _ in range(5):
        res = rescale(dict(img=img.copy(), gt_seg_map=seg.copy(),
                           seg_fields=['gt_seg_map']))
        h, w = res['img'].shape[:2]
        assert 10 <= h <= 30 and 15 <= w <= 45
        assert res['gt_seg_map'].shape == (h, w)
        assert set(np.unique(res['gt_seg_map'])) <= set(np.unique(seg))


def _write_relation_labels(voc_root, ids, out_dir):
    """Confident-label stand-ins: the GT with a random fifth set to 255."""
    from mmc2am.cam.pseudo_mask import save_label_png
    rng = np.random.default_rng(0)
    for i in ids:
        gt = np.asarray(Image.open(
            osp.join(voc_root, 'SegmentationClassAug', f'{i}.png')))
        conf = gt.copy()
        conf[rng.random(gt.shape) < 0.2] = 255
        save_label_png(osp.join(out_dir, f'{i}.png'), conf)


def _write_cams(voc_root, ids, cam_dir):
    """CAM files: blurred GT masks of the present classes, max-normalised."""
    import torch.nn.functional as F

    from mmc2am.cam.cam_file import save_cam_file
    for i in ids:
        gt = np.asarray(Image.open(
            osp.join(voc_root, 'SegmentationClassAug', f'{i}.png')))
        keys = np.array(sorted(set(np.unique(gt).tolist()) - {0, 255})) - 1
        hr = torch.from_numpy(
            np.stack([(gt == k + 1) for k in keys]).astype(np.float32))
        hr = F.avg_pool2d(hr[None], 9, 1, 4)[0]
        h, w = gt.shape
        cam = F.interpolate(hr[None], size=((h + 3) // 4, (w + 3) // 4),
                            mode='bilinear', align_corners=False)[0]
        cam = cam / cam.flatten(1).amax(1)[:, None, None]
        save_cam_file(osp.join(cam_dir, f'{i}.npz'), keys, cam.numpy(),
                      hr.numpy())


def test_dataset_refuses_missing_labels(voc_root, tmp_path):
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    with pytest.raises(FileNotFoundError, match='no pseudo-mask'):
        DATASETS.build(dict(
            type='mmc2am.IRNAffinityDataset', data_root=voc_root,
            ann_file='ImageSets/Segmentation/train.txt',
            label_dir=str(tmp_path), pipeline=[]))


def test_train_then_random_walk_masks(voc_root, tmp_path):
    """tools/train.py's runner trains the generated-data config; the
    random-walk stage (tools/test.py) writes palette PNGs and scores them."""
    from mmengine.runner import Runner

    # a few images keep this fast: one training iteration, four masks
    ids = open(osp.join(voc_root, 'ImageSets/Segmentation/train.txt')
               ).read().split()[:4]
    ann_file = str(tmp_path / 'subset.txt')
    with open(ann_file, 'w') as f:
        f.write('\n'.join(ids) + '\n')
    label_dir, cam_dir = tmp_path / 'labels', tmp_path / 'cams'
    os.makedirs(label_dir)
    os.makedirs(cam_dir)
    _write_relation_labels(voc_root, ids, str(label_dir))
    _write_cams(voc_root, ids, str(cam_dir))

    cfg = Config.fromfile(GEN_CONFIG)
    cfg.work_dir = str(tmp_path / 'train')
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.dataset.update(
        data_root=voc_root, label_dir=str(label_dir), ann_file=ann_file)
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler[0].end = 1
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(cfg.work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    assert all(torch.isfinite(v).all()
               for v in runner.model.state_dict().values())

    from test_mask_stages import run_test_tool
    out_dir = tmp_path / 'masks'
    metrics = run_test_tool([
        GEN_CONFIG, ckpt, '--work-dir', str(tmp_path / 'rw'),
        '--cfg-options', f'test_dataloader.dataset.data_root={voc_root}',
        f'test_dataloader.dataset.cam_dir={cam_dir}',
        f'test_dataloader.dataset.ann_file={ann_file}',
        f'default_hooks.mask_file.out_dir={out_dir}',
        'model.test_cfg.exp_times=4'])
    assert sorted(os.listdir(out_dir)) == sorted(
        [f'{i}.png' for i in ids] + ['.mask_params.json', '.sweep'])
    assert not (tmp_path / 'rw' / 'masks').exists()  # not the default
    with Image.open(osp.join(out_dir, f'{ids[0]}.png')) as png:
        assert png.mode == 'P' and png.size == (64, 64)
        assert set(np.unique(np.asarray(png))) <= set(range(21))
    assert metrics['num_made'] == len(ids) == metrics['num_eval']
    assert 0 <= metrics['mIoU'] <= 100
    assert metrics['sweep_num_eval'] == len(ids)
    assert metrics['best_mIoU'] >= metrics['mIoU']
    with open(out_dir / '.mask_params.json') as f:
        params = json.load(f)
    assert params['bg_thr'] == 0.25 and params['exp_times'] == 4
    assert params['cam_dir'] == str(cam_dir)
