"""GlobalCAMHook on a tiny generated set with a fixed ResNet-18 CAM classifier."""
import glob
import math
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import Runner

import mmc2am  # noqa: F401
from mmc2am.engine import GlobalCAMHook

S = 16
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def _model(adjustment=None):
    return dict(
        type='mmc2am.CAMClassifier',
        data_preprocessor=dict(
            type='ClsDataPreprocessor', num_classes=20,
            mean=MEAN.flatten().tolist(), std=STD.flatten().tolist(),
            to_rgb=True, to_onehot=True),
        backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1),
                      out_indices=(3, ), frozen_stages=2, norm_eval=True),
        head=dict(type='mmc2am.CausalCAMHead', num_classes=20,
                  in_channels=512,
                  adjustment=adjustment, global_cam_size=S))


def _runner(voc_root, work_dir, hook=None, adjustment=None, max_epochs=1,
            resume=False, indices=None):
    hooks = [hook] if hook is not None else []
    runner = Runner(
        model=_model(adjustment),
        work_dir=str(work_dir),
        train_dataloader=dict(
            batch_size=8,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(
                type='mmc2am.VOCImageLevelDataset',
                data_root=voc_root,
                ann_file='ImageSets/Segmentation/trainaug.txt',
                indices=indices,
                label_cache=None,
                pipeline=[dict(type='LoadImageFromFile'),
                          dict(type='RandomFlip', prob=0.5),
                          dict(type='PackInputs')])),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        custom_hooks=hooks,
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmpretrain',
        randomness=dict(seed=0),
        resume=resume,
        log_level='WARNING')
    # A random head leaves some classes with all-zero CAMs, which the hook
    # refuses; non-negative weights on post-ReLU features keep every map
    # alive (the backbone is re-initialised by runner.train(), not the head).
    with torch.no_grad():
        runner.model.head.conv.weight.abs_()
    return runner


def _hand_global_cam(model, dataset, reduce, flip):
    """By-class (or all-image) mean of max-normalised CAMs, written out."""
    model.eval()
    sums = torch.zeros(20, S, S, dtype=torch.float64)
    counts = torch.zeros(20)
    with torch.no_grad():
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            img = mmcv.imread(info['img_path'])[..., ::-1].copy()  # RGB
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
            x = (x - MEAN) / STD
            H, W = x.shape[-2:]
            cam = model.forward_cam(x)
            if flip:
                cam = cam + model.forward_cam(x.flip(-1)).flip(-1)
            up = (math.ceil(H / 16) * 16, math.ceil(W / 16) * 16)
            cam = F.interpolate(cam, up, mode='bilinear',
                                align_corners=False)[0, :, :H, :W]
            for c in info['gt_label']:
                m = cam[c] / (cam[c].max() + 1e-5)
                m = F.interpolate(m[None, None], (S, S), mode='bilinear',
                                  align_corners=False)[0, 0]
                sums[c] += m.double()
                counts[c] += 1
    if reduce == 'by_class':
        return (sums / counts.clamp(min=1)[:, None, None]).float(), counts
    return (sums / len(dataset)).float(), counts


@pytest.mark.parametrize('reduce,flip', [('by_class', True), ('all', False)])
def test_map_equals_hand_mean(voc_root, tmp_path, reduce, flip):
    hook = GlobalCAMHook(scales=(1.0, ), flip=flip, reduce=reduce,
                         cam_resolution='high_res', num_workers=0)
    runner = _runner(voc_root, tmp_path, indices=12)
    global_cam = hook.compute(runner)
    assert hook.num_passes == 1
    model = runner.model
    expected, counts = _hand_global_cam(model, runner.train_dataloader.dataset,
                                        reduce, flip=flip)
    assert global_cam.shape == (20, S, S)
    assert (global_cam - expected).abs().max() < 1e-5
    assert torch.equal(model.head.global_cam, global_cam)
    assert model.head.has_global_cam
    assert counts.sum() > 0 and torch.isfinite(global_cam).all()
    # files in the work dir
    saved = np.load(osp.join(runner.work_dir, 'global_cam.npy'))
    assert saved.dtype == np.float32
    assert np.abs(saved - global_cam.numpy()).max() == 0
    png = osp.join(runner.work_dir, 'global_cam.png')
    assert mmcv.imread(png).shape[0] > 100


def test_absent_class_gives_zeros(voc_root, tmp_path):
    hook = GlobalCAMHook(scales=(1.0, ), flip=False, num_workers=0,
                         cam_resolution='high_res')
    runner = _runner(voc_root, tmp_path, indices=2)
    dataset = runner.train_dataloader.dataset
    present = {c for i in range(len(dataset))
               for c in dataset.get_data_info(i)['gt_label']}
    absent = sorted(set(range(20)) - present)
    assert absent
    global_cam = hook.compute(runner)
    assert torch.isfinite(global_cam).all()
    assert global_cam[absent].abs().max() == 0
    expected, _ = _hand_global_cam(runner.model, dataset, 'by_class',
                                   flip=False)
    assert (global_cam - expected).abs().max() < 1e-5
    log = glob.glob(osp.join(runner.log_dir, '*.log'))[0]
    with open(log) as f:
        assert 'no training image holds' in f.read()


def test_buffer_survives_resume_without_a_second_pass(voc_root, tmp_path):
    hook = GlobalCAMHook(scales=(1.0, ), flip=False, num_workers=0,
                         allow_untrained=True)
    runner = _runner(voc_root, tmp_path, hook, adjustment='front_door',
                     indices=8)
    assert hook in runner.hooks and hook.priority == 'ABOVE_NORMAL'
    runner.train()
    assert hook.num_passes == 1
    global_cam = runner.model.head.global_cam.clone()
    assert osp.isfile(osp.join(tmp_path, 'epoch_1.pth'))
    ckpt = torch.load(osp.join(tmp_path, 'epoch_1.pth'), map_location='cpu')
    assert torch.equal(ckpt['state_dict']['head.global_cam'], global_cam)
    assert bool(ckpt['state_dict']['head.global_cam_set'])

    hook2 = GlobalCAMHook(scales=(1.0, ), flip=False, num_workers=0,
                          allow_untrained=True)
    runner2 = _runner(voc_root, tmp_path, hook2, adjustment='front_door',
                      max_epochs=2, resume=True, indices=8)
    assert not runner2.model.head.has_global_cam
    runner2.train()
    assert runner2.epoch == 2
    assert hook2.num_passes == 0  # restored, not recomputed
    assert torch.equal(runner2.model.head.global_cam, global_cam)


def test_interval_and_file(voc_root, tmp_path):
    hook = GlobalCAMHook(scales=(1.0, ), flip=False, interval=1,
                         num_workers=0, allow_untrained=True)
    runner = _runner(voc_root, tmp_path / 'a', hook,
                     adjustment='front_door_spatial', max_epochs=2,
                     indices=4)
    runner.train()
    # before training + after epoch 1 (not after the last epoch)
    assert hook.num_passes == 2

    g = np.random.default_rng(0).random((20, 8, 8)).astype(np.float32)
    path = str(tmp_path / 'g.npy')
    np.save(path, g)
    hook = GlobalCAMHook(global_cam_file=path, num_workers=0,
                         allow_untrained=True)
    runner = _runner(voc_root, tmp_path / 'b', hook, adjustment='front_door',
                     indices=4)
    runner.train()
    assert hook.num_passes == 0
    expected = F.interpolate(torch.from_numpy(g)[None], (S, S),
                             mode='bilinear', align_corners=False)[0]
    # set at the start and kept (a buffer, not trained)
    assert torch.allclose(runner.model.head.global_cam, expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match='reduce'):
        GlobalCAMHook(reduce='mean')
    with pytest.raises(ValueError, match='interval'):
        GlobalCAMHook(interval=-1)
    with pytest.raises(ValueError, match='cam_resolution'):
        GlobalCAMHook(cam_resolution='full')


def _square_hand(model, dataset, scales, reduce):
    """C2AM's make_square_cam + mean, written out: per scale the image
    resized (bicubic, antialiased), relu(conv1x1(features)) of it and of its
    flip (flipped back), summed, resized straight to S x S; scales summed;
    each present class divided by (its max + 1e-5); by-class or all mean."""
    model.eval()
    sums = torch.zeros(20, S, S, dtype=torch.float64)
    counts = torch.zeros(20)
    with torch.no_grad():
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            img = mmcv.imread(info['img_path'])[..., ::-1].copy()  # RGB
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
            x = (x - MEAN) / STD
            H, W = x.shape[-2:]
            total = torch.zeros(1, 20, S, S)
            for s in scales:
                xs = x if s == 1.0 else F.interpolate(
                    x, (round(H * s), round(W * s)), mode='bicubic',
                    align_corners=False, antialias=True)
                feat = model.backbone(xs)[-1]
                featf = model.backbone(xs.flip(-1))[-1]
                w = model.head.conv.weight
                cam = F.relu(F.conv2d(feat, w)) + F.relu(
                    F.conv2d(featf, w)).flip(-1)
                total += F.interpolate(cam, (S, S), mode='bilinear',
                                       align_corners=False)
            for c in info['gt_label']:
                m = total[0, c]
                sums[c] += (m / (m.max() + 1e-5)).double()
                counts[c] += 1
    denom = counts.clamp(min=1)[:, None, None] if reduce == 'by_class' \
        else len(dataset)
    return (sums / denom).float()


@pytest.mark.parametrize('reduce', ['by_class', 'all'])
def test_square_map_equals_reference_semantics(voc_root, tmp_path, reduce):
    """The default (C2AM's reference) global CAM on 3 images by hand."""
    scales = (1.0, 0.5, 1.5)
    hook = GlobalCAMHook(scales=scales, flip=True, reduce=reduce,
                         num_workers=0)
    assert hook.cam_resolution == 'square'
    runner = _runner(voc_root, tmp_path, indices=3)
    global_cam = hook.compute(runner)
    expected = _square_hand(runner.model, runner.train_dataloader.dataset,
                            scales, reduce)
    assert expected.abs().max() > 0.1
    assert (global_cam - expected).abs().max() < 1e-5


def test_refuses_untrained_start(voc_root, tmp_path):
    """C2AM needs trained classifier weights: no load_from, or a
    checkpoint without the CAM head (an IRN one), is an error."""
    hook = GlobalCAMHook(scales=(1.0, ), flip=False, num_workers=0)
    runner = _runner(voc_root, tmp_path / 'a', hook, adjustment='front_door',
                     indices=4)
    with pytest.raises(RuntimeError, match='load_from is not set'):
        runner.train()

    irn = tmp_path / 'irn.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1),
                               'edge_layers.0.weight': torch.zeros(1)}},
               str(irn))
    hook = GlobalCAMHook(scales=(1.0, ), flip=False, num_workers=0)
    runner = _runner(voc_root, tmp_path / 'b', hook, adjustment='front_door',
                     indices=4)
    runner._load_from = str(irn)
    with pytest.raises(RuntimeError, match='irn.pth holds no CAM classifier'):
        hook.before_train(runner)


def test_refuses_degenerate_global_cam(voc_root, tmp_path):
    # a class in the labels whose CAMs are all zero (a zero head)
    hook = GlobalCAMHook(scales=(1.0, ), flip=False, num_workers=0)
    runner = _runner(voc_root, tmp_path / 'a', indices=4)
    with torch.no_grad():
        runner.model.head.conv.weight.zero_()
    with pytest.raises(RuntimeError, match=r'all zero .*trainaug\.txt'):
        hook.compute(runner)
    assert not runner.model.head.has_global_cam
    # no image at all
    hook = GlobalCAMHook(
        scales=(1.0, ), flip=False, num_workers=0,
        dataset=dict(type='mmc2am.VOCImageLevelDataset',
                     data_root=voc_root,
                     ann_file='ImageSets/Segmentation/trainaug.txt',
                     indices=0, serialize_data=False, label_cache=None))
    runner = _runner(voc_root, tmp_path / 'b', indices=4)
    with pytest.raises(RuntimeError, match=r'no image .*trainaug\.txt'):
        hook.compute(runner)
