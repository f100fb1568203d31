"""CONTA: the backdoor adjustment and the confounder set against hand
computations; the hook's errors; the buffers in checkpoints; the configs."""
import math
import os
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.engine import ConfounderSetHook
from mmc2am.engine.hooks.confounder_set_hook import nearest_indices
from mmc2am.models.heads import CONTAHead
from mmc2am.utils import find_config
from mmc2am.utils.mask_files import save_label_png

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)

# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


# ---------------------------------------------------------------------- #
# (a) the backdoor adjustment
# ---------------------------------------------------------------------- #
def _hand_scores(head, f, D, P, fusion):
    """CONTA's adjusted scores written out: loops over images, channels and
    confounder entries, the softmax by hand."""
    B, K, h, w = f.shape
    C, E = head.num_classes, head.embed_channels
    Wx = head.conv.weight[:, :, 0, 0]
    Wq, bq = head.query.weight, head.query.bias
    Wk, bk = head.key.weight, head.key.bias
    scores, zs = [], []
    for b in range(B):
        x = torch.stack([f[b, k].sum() / (h * w) for k in range(K)])
        q = torch.stack([sum(Wq[e, k] * x[k] for k in range(K)) + bq[e]
                         for e in range(E)])
        logits = []
        for i in range(C):
            key = torch.stack([sum(Wk[e, k] * D[i, k] for k in range(K)) +
                               bk[e] for e in range(E)])
            logits.append(sum(q[e] * key[e] for e in range(E)) / math.sqrt(E))
        ex = [torch.exp(v) for v in logits]
        a = [v / sum(ex) for v in ex]
        z = sum(P[i] * a[i] * D[i] for i in range(C))
        if fusion == 'concat':
            Wz, bz = head.conf_fc.weight, head.conf_fc.bias
            s = torch.stack([
                sum(Wx[c, k] * x[k] for k in range(K)) +
                sum(Wz[c, k] * z[k] for k in range(K)) + bz[c]
                for c in range(C)
            ])
        else:
            s = torch.stack([sum(Wx[c, k] * (x[k] + z[k]) for k in range(K))
                             for c in range(C)])
        scores.append(s)
        zs.append(z)
    return torch.stack(scores), torch.stack(zs)


@pytest.mark.parametrize('fusion,prior', [('concat', 'uniform'),
                                          ('add', 'frequency')])
def test_adjusted_scores_equal_hand_computation(fusion, prior):
    C, K, E = 4, 6, 5
    torch.manual_seed(0)
    head = CONTAHead(C, K, fusion=fusion, embed_channels=E, prior=prior)
    with torch.no_grad():  # larger weights: a far from uniform attention
        head.query.weight.normal_(0, 1.0)
        head.key.weight.normal_(0, 1.0)
        head.query.bias.normal_(0, 0.1)
        head.key.bias.normal_(0, 0.1)
        if fusion == 'concat':
            head.conf_fc.bias.normal_(0, 0.1)
    D = torch.randn(C, K)
    counts = torch.tensor([3., 1., 0., 4.])
    head.set_confounder_set(D, counts)
    P = (torch.full((C, ), 1 / C) if prior == 'uniform' else counts / 8)
    assert torch.allclose(head.confounder_prior, P)
    f = torch.randn(3, K, 3, 4)
    hand, z_hand = _hand_scores(head, f, D, P, fusion)
    x = f.mean(dim=(2, 3))
    assert torch.allclose(head.intervention(x), z_hand, atol=1e-6)
    assert torch.allclose(head((f, )), hand, atol=1e-5)
    a = head.attention(x)
    assert a.std() > 0.05  # the attention is not flat
    # loss = multi-label soft margin of the adjusted scores
    target = torch.tensor([[1., 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 0]])
    samples = [DataSample().set_gt_score(t) for t in target]
    loss = head.loss((f, ), samples)['loss']
    assert loss.item() == pytest.approx(
        F.multilabel_soft_margin_loss(hand, target).item(), rel=1e-5)
    # CAMs: the CAM classifier's; adjusted: the per-pixel map whose mean is s
    Wx = head.conv.weight
    assert torch.allclose(head.cam((f, )), F.relu(F.conv2d(f, Wx)))
    head.cam_adjusted = True
    pre = head.cam((f, ))
    term = (hand - F.conv2d(f, Wx).mean(dim=(2, 3)))[:, :, None, None]
    assert torch.allclose(pre, F.relu(F.conv2d(f, Wx) + term), atol=1e-5)


def test_no_set_raises_or_passes_through():
    torch.manual_seed(0)
    f = torch.randn(2, 6, 3, 3)
    head = CONTAHead(4, 6)
    with pytest.raises(RuntimeError, match='confounder set'):
        head((f, ))
    head = CONTAHead(4, 6, passthrough_without_set=True)
    plain = F.conv2d(f, head.conv.weight).mean(dim=(2, 3))
    assert torch.allclose(head((f, )), plain, atol=1e-6)
    with pytest.raises(ValueError, match='class_counts'):
        CONTAHead(4, 6, prior='frequency').set_confounder_set(
            torch.zeros(4, 6))
    with pytest.raises(ValueError, match=r'\(4, 6\)'):
        head.set_confounder_set(torch.zeros(4, 5))
    with pytest.raises(ValueError, match='fusion'):
        CONTAHead(4, 6, fusion='mul')


# ---------------------------------------------------------------------- #
# (e) the buffers in checkpoints
# ---------------------------------------------------------------------- #
def test_buffers_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    head = CONTAHead(4, 6, prior='frequency')
    D = torch.randn(4, 6)
    head.set_confounder_set(D, torch.tensor([1., 2., 3., 4.]))
    state = head.state_dict()
    assert {'confounder_set', 'confounder_prior',
            'confounder_set_set'} <= set(state)
    path = tmp_path / 'head.pth'
    torch.save(state, path)
    fresh = CONTAHead(4, 6, prior='frequency')
    assert not fresh.has_confounder_set
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert fresh.has_confounder_set
    assert torch.equal(fresh.confounder_set, D)
    assert torch.allclose(fresh.confounder_prior,
                          torch.tensor([.1, .2, .3, .4]))
    f = torch.randn(2, 6, 3, 3)
    assert torch.equal(fresh((f, )), head((f, )))


# ---------------------------------------------------------------------- #
# (b, d) the confounder set from pseudo-masks
# ---------------------------------------------------------------------- #
PRESENT = (1, 2, 5)  # mask labels used: aeroplane, bicycle, bottle (index 4)


def _runner(voc_root, work_dir, hooks=(), indices=3, epochs=1):
    return Runner(
        model=dict(
            type='mmc2am.CAMClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor', num_classes=20,
                mean=MEAN.flatten().tolist(), std=STD.flatten().tolist(),
                to_rgb=True, to_onehot=True),
            backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1),
                          out_indices=(3, ), frozen_stages=-1,
                          norm_eval=True),
            head=dict(type='mmc2am.CONTAHead', num_classes=20,
                      in_channels=512)),
        work_dir=str(work_dir),
        train_dataloader=dict(
            batch_size=4, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(
                type='mmc2am.VOCImageLevelDataset', data_root=voc_root,
                ann_file='ImageSets/Segmentation/trainaug.txt',
                indices=indices, label_cache=None,
                pipeline=[dict(type='LoadImageFromFile'),
                          dict(type='RandomFlip', prob=0.5),
                          dict(type='PackInputs')])),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=list(hooks),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1)),
        default_scope='mmpretrain', randomness=dict(seed=0),
        experiment_name=f'conta_{abs(hash(str(work_dir)))}',
        log_level='WARNING')


def _write_masks(dataset, mask_dir, seed=0):
    """Random labels among PRESENT, background and ignore; label 5 only in
    the first image, every image with ignore at a sampled pixel."""
    rng = np.random.default_rng(seed)
    os.makedirs(mask_dir, exist_ok=True)
    masks = {}
    for j in range(len(dataset)):
        info = dataset.get_data_info(j)
        H, W = mmcv.imread(info['img_path']).shape[:2]
        values = [0, 1, 2, 255] + ([5] if j == 0 else [])
        m = rng.choice(values, size=(H, W)).astype(np.uint8)
        m[0, 0] = 255  # feature pixel (0, 0) samples it
        save_label_png(osp.join(mask_dir, info['img_id'] + '.png'), m)
        masks[info['img_path']] = m
    return masks


def _hand_set(model, masks, reduce):
    """Class-wise masked means with numpy loops over feature pixels."""
    model.eval()
    sums = np.zeros((20, 512))
    n_img = np.zeros(20)
    n_pix = np.zeros(20)
    with torch.no_grad():
        for img_path, mask in masks.items():
            img = mmcv.imread(img_path)[..., ::-1].copy()  # RGB
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
            f = model.backbone((x - MEAN) / STD)[-1][0].double().numpy()
            K, h, w = f.shape
            H, W = mask.shape
            per_class = {}
            for r in range(h):
                for s in range(w):
                    label = int(mask[r * H // h, s * W // w])  # nearest
                    if label in (0, 255):
                        continue
                    per_class.setdefault(label - 1, []).append(f[:, r, s])
            for i, vecs in per_class.items():
                vecs = np.stack(vecs)
                sums[i] += vecs.mean(0) if reduce == 'image' else vecs.sum(0)
                n_img[i] += 1
                n_pix[i] += len(vecs)
    denom = n_img if reduce == 'image' else n_pix
    return sums / np.maximum(denom, 1)[:, None], n_img


def test_nearest_rule_is_torchs():
    for size_in, size_out in [(64, 4), (50, 4), (33, 5), (7, 7)]:
        ramp = torch.arange(size_in, dtype=torch.float32)[None, None, :, None]
        ref = F.interpolate(ramp, size=(size_out, 1), mode='nearest')
        assert torch.equal(ref.flatten().long(),
                           nearest_indices(size_in, size_out))


@pytest.mark.parametrize('reduce', ['image', 'pixel'])
def test_confounder_set_equals_hand_masked_means(voc_root, tmp_path, reduce):
    runner = _runner(voc_root, tmp_path)
    dataset = runner.train_dataloader.dataset
    masks = _write_masks(dataset, str(tmp_path / 'masks'))
    hook = ConfounderSetHook(mask_dir=str(tmp_path / 'masks'), reduce=reduce)
    with pytest.warns(UserWarning, match='boat') as record:
        got = hook.compute(runner)
    expected, n_img = _hand_set(runner.model, masks, reduce)
    assert got.shape == (20, 512)
    assert np.abs(got.numpy() - expected).max() < 1e-5
    head = runner.model.head
    assert head.has_confounder_set and torch.equal(head.confounder_set, got)
    # present classes filled, every other class zero and named in the warning
    present = [lb - 1 for lb in PRESENT]
    assert all(got[i].abs().sum() > 0 for i in present)
    absent = [i for i in range(20) if i not in present]
    assert torch.all(got[absent] == 0)
    message, = [str(w.message) for w in record
                if 'ConfounderSetHook' in str(w.message)]
    assert 'aeroplane' not in message and 'cat' in message
    assert n_img[4] == 1 and n_img[0] == 3  # label 5 in the first image only
    assert osp.isfile(osp.join(runner.work_dir, 'confounder_set.npy'))


def test_missing_or_bad_mask_is_named(voc_root, tmp_path):
    runner = _runner(voc_root, tmp_path)
    dataset = runner.train_dataloader.dataset
    mask_dir = str(tmp_path / 'masks')
    masks = _write_masks(dataset, mask_dir)
    first, second = list(masks)[:2]
    stem = osp.splitext(osp.basename(first))[0]
    os.remove(osp.join(mask_dir, stem + '.png'))
    hook = ConfounderSetHook(mask_dir=mask_dir)
    with pytest.raises(FileNotFoundError, match=stem + '.png'):
        hook.compute(runner)
    bad = masks[first].copy()
    bad[3, 3] = 30  # neither a class nor ignore
    save_label_png(osp.join(mask_dir, stem + '.png'), bad)
    with pytest.raises(ValueError, match=stem + r'\.png.*30'):
        hook.compute(runner)
    save_label_png(osp.join(mask_dir, stem + '.png'), masks[first][:-1])
    with pytest.raises(ValueError, match=stem + r'\.png.*size'):
        hook.compute(runner)
    assert not runner.model.head.has_confounder_set


def test_hook_before_training_and_checkpoint(voc_root, tmp_path):
    """One tiny epoch: the set is built before the first step, trains, is
    saved in the checkpoint and not recomputed once restored."""
    probe = _runner(voc_root, tmp_path / 'probe', indices=8)
    _write_masks(probe.train_dataloader.dataset, str(tmp_path / 'masks'))
    hook = ConfounderSetHook(mask_dir=str(tmp_path / 'masks'))
    runner = _runner(voc_root, tmp_path / 'run', hooks=[hook], indices=8)
    with pytest.warns(UserWarning, match='no pixel'):
        runner.train()
    assert hook.num_passes == 1
    ckpt = torch.load(tmp_path / 'run' / 'epoch_1.pth', map_location='cpu',
                      weights_only=False)['state_dict']
    assert bool(ckpt['head.confounder_set_set'])
    assert torch.equal(ckpt['head.confounder_set'],
                       runner.model.head.confounder_set)
    again = ConfounderSetHook(mask_dir=str(tmp_path / 'masks'))
    restored = _runner(voc_root, tmp_path / 'run2', indices=8)
    restored.model.load_state_dict(ckpt)
    again.before_train(restored)
    assert again.num_passes == 0 and restored.model.head.has_confounder_set


# ---------------------------------------------------------------------- #
# (c) the configs
# ---------------------------------------------------------------------- #
def _cfg(name):
    cfg = Config.fromfile(find_config(name))
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    return cfg


@pytest.mark.parametrize('name,depth', [('conta_r50_voc.py', 50),
                                        ('conta_r18_gen.py', 18)])
def test_configs_build(name, depth):
    cfg = _cfg(name)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'CAMClassifier'
    assert type(model.head).__name__ == 'CONTAHead'
    assert model.backbone.depth == depth
    assert model.head.fusion == 'concat' and model.head.prior == 'uniform'
    assert model.head.embed_channels == 21
    assert not model.head.has_confounder_set
    hook, = cfg.custom_hooks
    assert hook.type == 'ConfounderSetHook' and hook.reduce == 'image'
    assert cfg.optim_wrapper.optimizer.lr == 0.1
    assert cfg.optim_wrapper.optimizer.momentum == 1e-4
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.head.lr_mult == 10


def test_generated_config_keeps_the_voc_settings():
    voc, gen = _cfg('conta_r50_voc.py'), _cfg('conta_r18_gen.py')
    assert gen.model.head == dict(voc.model.head, in_channels=512)
    assert dict(gen.custom_hooks[0], mask_dir=None, num_workers=None) == \
        dict(voc.custom_hooks[0], mask_dir=None, num_workers=None)
    assert gen.optim_wrapper == voc.optim_wrapper
    assert gen.train_cfg.max_epochs == voc.train_cfg.max_epochs == 5
    assert voc.load_from == 'work_dirs/cam_r50_voc/epoch_5.pth'
    assert gen.load_from == 'work_dirs/cam_r18_gen/epoch_15.pth'
    assert voc.custom_hooks[0].mask_dir == 'work_dirs/irn_r50_voc_cam/masks'
    assert gen.custom_hooks[0].mask_dir == \
        'work_dirs/crf_gen_cam/masks'
    raw = Config.fromfile(find_config('conta_r50_voc.py'))
    assert raw.model.backbone.init_cfg is None  # starts from load_from
