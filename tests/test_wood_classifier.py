"""WOoDClassifier and WOoDCentresHook (issue 26, W-OoD with the erase
negatives): the loss against hand computations, the hardening of the OoD
images only, the centres of a pass, and cam_r18_gen_wood.py through
mmengine's Runner."""
import copy
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from test_erase_objects import on_generated_data

import mmc2am  # noqa: F401  (registers the model, loss and hook)
from mmc2am.engine import WOoDCentresHook
from mmc2am.models import WOoDClassifier
from mmc2am.models.losses import harden_ood
from mmc2am.models.losses.wood_distance_loss import (
    class_centres,
    kmeans,
    wood_distance_loss,
)
from mmc2am.registry import HOOKS, MODELS
from mmc2am.utils import find_config

# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')

C, D, K = 20, 512, 3  # the config's classes, ResNet-18's channels, clusters
LABELS = ([1], [], [2, 5], [])  # samples 1 and 3: erase negatives (OoD)


def _cfg(name='cam_r18_gen_wood.py'):
    return Config.fromfile(find_config(name))


def _model(harden=False, centres=True):
    """The config's model (ResNet-18, random init), train mode, with
    random centres."""
    init_default_scope('mmc2am')
    cfg = _cfg().model
    cfg.harden = harden
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    if centres:
        model.distance_loss.set_centres(torch.rand(C, D), torch.rand(K, D))
    return model


def _batch(model, labels=LABELS, seed=1):
    """A 32x32 batch through the data preprocessor in training mode (the
    multi-hot ``gt_score`` of the training path)."""
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (len(labels), 3, 32, 32), generator=g,
                         dtype=torch.uint8)
    samples = [DataSample().set_gt_label(list(lb)) for lb in labels]
    return model.data_preprocessor(dict(inputs=imgs, data_samples=samples),
                                   True)


def _spy(model):
    """Record (a copy of) every batch ``extract_feat`` is given."""
    seen = []
    extract = model.extract_feat

    def spy(inputs, *args, **kwargs):
        seen.append(inputs.detach().clone())
        return extract(inputs, *args, **kwargs)

    model.extract_feat = spy
    return seen


def _by_hand(model, inputs, samples):
    """(classification loss, distance loss) of a batch, computed with the
    head and wood_distance_loss directly."""
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        cls = model.head.loss(feats, samples)['loss']
        gap = F.adaptive_avg_pool2d(feats[-1], 1).flatten(1)
        y = model.head.targets(samples)
        keep = y.sum(1) > 0
        loss = model.distance_loss
        dist = loss.loss_weight * wood_distance_loss(
            gap[keep], y[keep], loss.class_centres, loss.ood_centres,
            loss.ood_dist_topk)
    return cls, dist


def test_config_and_model():
    cfg, erase = _cfg(), _cfg('cam_r18_gen_erase.py')
    assert cfg.model.type == 'WOoDClassifier'
    assert cfg.model.distance_loss == dict(
        type='WOoDDistanceLoss', loss_weight=0.007, ood_dist_topk=0.2)
    assert (cfg.model.harden, cfg.model.xi) == (True, 0.07)
    assert cfg.custom_hooks == [dict(type='WOoDCentresHook', num_clusters=10)]
    # the erase form otherwise: pipeline, start point, schedule
    assert cfg.train_dataloader == erase.train_dataloader
    assert (cfg.load_from, cfg.train_cfg, cfg.optim_wrapper) == (
        erase.load_from, erase.train_cfg, erase.optim_wrapper)
    a, b = dict(cfg.model), dict(erase.model)
    for k in ('type', 'distance_loss', 'harden', 'xi'):
        a.pop(k)
    b.pop('type')
    assert a == b
    model = _model()
    assert isinstance(model, WOoDClassifier)
    assert model.distance_loss.loss_name == 'loss_wood_dist'
    assert type(HOOKS.build(cfg.custom_hooks[0])) is WOoDCentresHook
    with pytest.raises(TypeError, match='WOoDDistanceLoss'):
        MODELS.build(dict(_cfg().model, distance_loss=dict(
            type='mmpretrain.CrossEntropyLoss')))


def test_loss_is_the_cam_loss_plus_the_distance_of_the_id_samples():
    model = _model(harden=False)
    data = _batch(model)
    seen = _spy(model)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss', 'loss_wood_dist'}
    assert len(seen) == 1  # no hardening pass
    cls, dist = _by_hand(model, data['inputs'], data['data_samples'])
    torch.testing.assert_close(losses['loss'], cls)
    torch.testing.assert_close(losses['loss_wood_dist'], dist)
    assert dist.abs() > 1e-4
    # the OoD rows (all-zero targets) are in the CAM loss: it differs from
    # the loss of the ID rows alone
    ids = [0, 2]
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'][ids])
        only_id = model.head.loss(feats, [data['data_samples'][i]
                                          for i in ids])['loss']
    assert not torch.isclose(only_id, cls)
    # the gradient reaches the backbone through both terms
    (losses['loss'] + losses['loss_wood_dist']).backward()
    assert model.backbone.layer4[-1].conv2.weight.grad.abs().sum() > 0
    # a custom name
    model.distance_loss._loss_name = 'loss_dist'
    assert set(model.loss(data['inputs'], data['data_samples'])) == {
        'loss', 'loss_dist'}


def test_hardening_moves_the_ood_images_by_at_most_xi():
    model = _model(harden=True)
    data = _batch(model)
    inputs = data['inputs'].clone()
    ood = [1, 3]
    twin = copy.deepcopy(model)  # the same weights and BatchNorm state
    seen = _spy(model)
    losses = model.loss(data['inputs'], data['data_samples'])
    torch.testing.assert_close(data['inputs'], inputs)  # caller's untouched
    assert len(seen) == 2  # the hardening forward, the loss's
    # the hardening pass sees the OoD images only
    torch.testing.assert_close(seen[0], inputs[ood])
    used = seen[-1]
    torch.testing.assert_close(used[[0, 2]], inputs[[0, 2]], rtol=0, atol=0)
    step = (used[ood] - inputs[ood]).abs()
    assert step.max() <= 0.07 + 1e-5 and step.max() > 0.07 / 2
    # exactly the hand-run step (train mode, the same model)
    hard = harden_ood(lambda x: twin.head(twin.extract_feat(x)),
                      inputs[ood], xi=0.07)
    torch.testing.assert_close(used[ood], hard)
    # the losses are those of the hardened batch
    cls, dist = _by_hand(twin, used, data['data_samples'])
    torch.testing.assert_close(losses['loss'], cls)
    torch.testing.assert_close(losses['loss_wood_dist'], dist)
    # a larger step moves them further, xi=0 not at all
    model = _model(harden=True)
    model.xi = 0.0
    seen = _spy(model)
    model.loss(data['inputs'], data['data_samples'])
    torch.testing.assert_close(seen[-1], inputs, rtol=0, atol=0)


def test_batches_without_ood_or_without_id_images():
    # no OoD image: no hardening pass, the distance loss of every sample
    model = _model(harden=True)
    data = _batch(model, labels=([1], [2, 5], [7], [0]))
    seen = _spy(model)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert len(seen) == 1
    cls, dist = _by_hand(model, data['inputs'], data['data_samples'])
    torch.testing.assert_close(losses['loss_wood_dist'], dist)
    assert dist.abs() > 1e-4
    # no ID image: every image hardened, the distance loss present and 0
    model = _model(harden=True)
    data = _batch(model, labels=([], [], [], []))
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss', 'loss_wood_dist'}
    assert losses['loss_wood_dist'].item() == 0.0
    assert losses['loss_wood_dist'].shape == ()
    sum(losses.values()).backward()
    # the OoD test reads gt_label on the host; gt_score when it is missing
    assert WOoDClassifier.ood_mask(_batch(model)['data_samples']) == [
        False, True, False, True]
    scored = [DataSample().set_gt_score(torch.tensor(v)) for v in (
        [0.0, 1.0], [0.0, 0.0])]
    assert WOoDClassifier.ood_mask(scored) == [False, True]


def test_missing_centres_name_the_hook():
    model = _model(centres=False)
    data = _batch(model)
    with pytest.raises(RuntimeError, match='WOoDCentresHook'):
        model.loss(data['inputs'], data['data_samples'])
    with pytest.raises(RuntimeError, match='WOoDCentresHook'):
        model(**data, mode='loss')


def test_hook_centres_by_hand():
    g = torch.Generator().manual_seed(0)
    # three "batches" of (feats, labels): 7 ID and 5 OoD rows
    batches = []
    for labels in (([1], [], [0, 2]), ([], [], [2], [1]), ([3], [], [],
                                                             [0], [1])):
        y = torch.zeros(len(labels), 4)
        for i, lb in enumerate(labels):
            y[i, lb] = 1.0
        batches.append((torch.randn(len(labels), 6, generator=g), y))
    feats = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    ood = labels.sum(1) == 0
    assert int(ood.sum()) == 5
    hook = WOoDCentresHook(num_clusters=2)
    centres, ood_centres, sizes = hook.compute_centres(feats, labels)
    torch.testing.assert_close(centres,
                               class_centres(feats[~ood], labels[~ood]))
    torch.testing.assert_close(ood_centres, kmeans(feats[ood], 2, 10))
    assert centres.shape == (4, 6) and ood_centres.shape == (2, 6)
    # class 0's centre by hand: rows 2 and 10
    torch.testing.assert_close(centres[0], (feats[2] + feats[10]) / 2)
    nearest = torch.cdist(feats[ood], ood_centres).argmin(1)
    assert sizes == torch.bincount(nearest, minlength=2).tolist()
    assert sum(sizes) == 5
    with pytest.raises(ValueError, match='5 OoD images.*num_clusters=6'):
        WOoDCentresHook(num_clusters=6).compute_centres(feats, labels)
    with pytest.raises(ValueError, match='num_clusters'):
        WOoDCentresHook(num_clusters=0)


def test_training_run_sets_the_centres_from_the_first_epochs_batches(
        voc_root, tmp_path):
    """cam_r18_gen_wood.py through the Runner: the hook's pass sees the
    batches of the first epoch (same erase draws and crops), the training
    then sees them again, and the loss dict has the distance term."""
    masks = tmp_path / 'masks'
    # the generator's masks stand in for the CRF pseudo-masks
    shutil.copytree(osp.join(voc_root, 'SegmentationClassAug'), masks)
    cfg = on_generated_data(_cfg(), voc_root, tmp_path)
    cfg.train_dataloader.dataset.pipeline[1].mask_dir = str(masks)
    cfg.train_dataloader.dataset.pipeline[1].prob = 0.6
    cfg.train_dataloader.dataset.indices = 16
    cfg.train_dataloader.batch_size = 8
    cfg.custom_hooks[0].num_clusters = 2
    cfg.train_cfg.max_epochs = 1
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None  # no val
    cfg.param_scheduler.end = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=0)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    model = runner.model
    batches = {False: [], True: []}
    forward = model.data_preprocessor.forward

    def record(data, training=False):
        out = forward(data, training)
        batches[training].append(
            ([s.gt_label.tolist() for s in out['data_samples']],
             out['inputs'].sum().item()))
        return out

    model.data_preprocessor.forward = record
    seen = []
    loss = model.loss
    model.loss = lambda *a, **k: seen.append(loss(*a, **k)) or seen[-1]
    runner.train()
    assert runner.iter == 2
    assert len(batches[False]) == 2 and batches[False] == batches[True]
    labels = [lb for b in batches[True] for lb in b[0]]
    assert [] in labels and any(labels)  # erased and kept images
    dist = model.distance_loss
    assert dist.class_centres.shape == (C, D)
    assert dist.ood_centres.shape == (2, D)
    assert all(set(s) == {'loss', 'loss_wood_dist'} for s in seen)
    assert np.isfinite(runner.message_hub.get_scalar(
        'train/loss_wood_dist').current())
