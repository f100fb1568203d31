"""RCA: the memory queue's update rule, the aggregation, the InfoNCE and the
loss weights against hand computations; the hook's k-means; the configs;
one training step of the generated-data config."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.engine import RCAMemoryHook
from mmc2am.engine.hooks.rca_memory_hook import kmeans
from mmc2am.models.heads import RCAHead
from mmc2am.registry import MODELS
from mmc2am.utils import find_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


def _head(**kwargs):
    args = dict(num_classes=2, in_channels=2, queue_len=3, num_centres=2,
                head_convs=0)
    args.update(kwargs)
    return RCAHead(**args)


# ---------------------------------------------------------------------- #
# the memory queue
# ---------------------------------------------------------------------- #
def test_enqueue_threshold_fifo_and_momentum_on_empty_queues():
    torch.manual_seed(0)
    head = _head(queue_init='empty')
    assert not head.queue_filled.any()
    e = torch.tensor([[[1., 2.], [3., 4.]], [[5., 6.], [7., 8.]]])  # (B, C, K)
    target = torch.tensor([[1., 1.], [0., 1.]])
    # image 0: class 0 at 0.71 (written), class 1 at 0.70 (not: > 0.7 only);
    # image 1: class 0 unlabelled at 0.99 (not), class 1 at 0.9 (written)
    probs = torch.tensor([[0.71, 0.70], [0.99, 0.9]])
    assert head.enqueue(e, target, probs) == 2
    assert torch.equal(head.queue[0, 0], torch.tensor([1., 2.]))
    assert torch.equal(head.queue[1, 0], torch.tensor([7., 8.]))
    assert head.queue_ptr.tolist() == [1, 1]
    assert head.queue_filled.tolist() == [[True, False, False],
                                          [True, False, False]]
    # class 0: three more writes fill slots 1, 2, then wrap to slot 0, where
    # the momentum applies: 0.99 * old + 0.01 * new
    one = torch.tensor([[1., 0.]])
    for v in ([10., 20.], [30., 40.], [100., 200.]):
        emb = torch.tensor([[v, [0., 0.]]])
        head.enqueue(emb, one, torch.tensor([[0.8, 0.8]]))
    assert torch.equal(head.queue[0, 1], torch.tensor([10., 20.]))
    assert torch.equal(head.queue[0, 2], torch.tensor([30., 40.]))
    assert torch.allclose(head.queue[0, 0],
                          torch.tensor([0.99 * 1 + 0.01 * 100,
                                        0.99 * 2 + 0.01 * 200]))
    assert head.queue_ptr.tolist() == [1, 1]
    assert head.queue_filled[0].all()
    # unchanged class 1
    assert torch.equal(head.queue[1, 0], torch.tensor([7., 8.]))


def test_enqueue_momentum_on_the_reference_randn_queues():
    torch.manual_seed(0)
    head = _head(queue_init='randn')
    assert head.queue_filled.all()
    old = head.queue.clone()
    emb = torch.tensor([[[4., -2.], [0., 0.]]])
    head.enqueue(emb, torch.tensor([[1., 0.]]), torch.tensor([[0.9, 0.9]]))
    # rca.py:275: queue[ptr] = queue[ptr] * 0.99 + embedding * 0.01
    assert torch.allclose(head.queue[0, 0], old[0, 0] * 0.99 + emb[0, 0] * 0.01)
    assert torch.equal(head.queue[0, 1:], old[0, 1:])
    assert torch.equal(head.queue[1], old[1])
    assert head.queue_ptr.tolist() == [1, 0]


def test_region_masks_and_embeddings_by_hand():
    # coarse map of one image, 2 classes, 1 x 3 pixels
    coarse = torch.tensor([[[[2., 0., 0.]], [[0., 0., 1.]]]])
    masks = RCAHead.region_masks(coarse)
    # softmax over the classes per pixel
    p0 = [math.exp(2) / (math.exp(2) + 1), 0.5, 1 / (1 + math.e)]
    mean0 = sum(p0) / 3
    expect0 = [float(p > mean0) for p in p0]
    p1 = [1 - p for p in p0]
    mean1 = sum(p1) / 3
    expect1 = [float(p > mean1) for p in p1]
    assert masks[0, 0, 0].tolist() == expect0 == [1., 0., 0.]
    assert masks[0, 1, 0].tolist() == expect1 == [0., 1., 1.]
    feat = torch.tensor([[[[1., 2., 3.]], [[4., 5., 6.]]]])  # (1, K=2, 1, 3)
    emb = RCAHead.region_embeddings(feat, masks)
    assert torch.allclose(emb[0, 0], torch.tensor([1., 4.]))
    assert torch.allclose(emb[0, 1], torch.tensor([2.5, 5.5]))


# ---------------------------------------------------------------------- #
# the aggregation
# ---------------------------------------------------------------------- #
def _identity_aggregation(head):
    """Q, W_K, W_V, W_A identities without bias; W_P = [I, I]."""
    with torch.no_grad():
        for m in (head.query, head.aggregate_conv):
            m.weight.copy_(torch.eye(2)[:, :, None, None])
            m.bias.zero_()
        for m in (head.key, head.value):
            m.weight.copy_(torch.eye(2))
            m.bias.zero_()
        head.concat_project.weight.copy_(
            torch.cat([torch.eye(2), torch.eye(2)], 1)[:, :, None, None])
        head.concat_project.bias.zero_()


@pytest.mark.parametrize('attention', ['linear', 'softmax'])
def test_aggregation_equals_hand_computation(attention):
    head = _head(attention=attention, queue_init='empty')
    _identity_aggregation(head)
    # centres: class 0 {(1, 0), (0, 1)}, class 1 {(1, 1), (-1, 0)}
    G = [[1., 0.], [0., 1.], [1., 1.], [-1., 0.]]
    head.set_centres(torch.tensor(G).view(2, 2, 2))
    x = torch.tensor([[[[2.]], [[-1.]]]])  # one pixel, x = (2, -1)
    out = head.aggregate(x)[0, :, 0, 0]
    dots = [2 * g[0] - 1 * g[1] for g in G]  # 2, -1, 1, -2
    if attention == 'linear':
        # rca.py:130: q . k / 10 * 20 with the reference's 10 centres and 20
        # classes: x 20 / num_centres here
        a = [d * 20 / 2 for d in dots]
    else:
        ex = [math.exp(d / math.sqrt(2)) for d in dots]
        a = [v / sum(ex) for v in ex]
    r = [sum(a[j] * G[j][k] for j in range(4)) for k in range(2)]
    expect = torch.tensor([2 + r[0], -1 + r[1]])
    assert torch.allclose(out, expect, atol=1e-5)
    if attention == 'linear':
        # 10 * (2 * (1, 0) - 1 * (0, 1) + 1 * (1, 1) - 2 * (-1, 0)) = (50, 0)
        assert torch.allclose(out, torch.tensor([52., -1.]))


def test_fine_and_coarse_heads_are_per_class_and_shared():
    """head_convs > 0: the fine map of class c depends on its own stack only
    (one conv, grouped by class after the first layer)."""
    torch.manual_seed(0)
    head = RCAHead(3, 4, queue_len=5, num_centres=2, head_convs=2,
                   head_channels=2)
    assert head.fine_convs[0].groups == 1 and head.fine_convs[2].groups == 3
    assert head.fine_cls.groups == 3 and head.conv.out_channels == 3
    x = torch.randn(1, 4, 3, 3, requires_grad=True)
    fine, coarse, _ = head.maps((x, ))
    assert fine.shape == coarse.shape == (1, 3, 3, 3)
    # the class-1 map has no gradient into the class-0 / class-2 stacks
    fine[:, 1].sum().backward()
    w = head.fine_convs[2].weight.grad  # (3 * 2, 2, 3, 3)
    assert w[2:4].abs().sum() > 0
    assert w[:2].abs().sum() == 0 and w[4:].abs().sum() == 0


# ---------------------------------------------------------------------- #
# the InfoNCE and the loss weights
# ---------------------------------------------------------------------- #
def _set_queue(head, entries, filled=None):
    with torch.no_grad():
        head.queue.copy_(torch.tensor(entries))
        if filled is not None:
            head.queue_filled.copy_(torch.tensor(filled))


def _hand_nce(v, entries, filled, cls, t=0.07):
    """rca.py:204-236 with lists: all logits, their max, the positives of
    ``cls`` against the negatives of every other class."""
    norm = lambda u: [a / math.sqrt(sum(b * b for b in u)) for a in u]  # noqa
    v = norm(v)
    logit = {}
    for c, row in enumerate(entries):
        for i, e in enumerate(row):
            if filled[c][i]:
                logit[(c, i)] = sum(a * b for a, b in zip(v, norm(e))) / t
    mx = max(logit.values())
    l_neg = sum(math.exp(s - mx) for (c, _), s in logit.items() if c != cls)
    per = [-((s - mx) - math.log(max(1e-4, l_neg + math.exp(s - mx))))
           for (c, _), s in logit.items() if c == cls]
    return sum(per) / len(per)


def test_info_nce_equals_hand_computation():
    head = _head(queue_init='empty')
    entries = [[[1., 0.], [0.8, 0.6], [0., 1.]],
               [[-1., 0.2], [0.3, -1.], [0.5, 0.5]]]
    filled = [[True, True, False], [True, True, True]]
    _set_queue(head, entries, filled)
    v = torch.tensor([[0.9, 0.1], [-0.5, 0.4]])
    got = head.info_nce(v, torch.tensor([0, 1]))
    assert got[0].item() == pytest.approx(
        _hand_nce([0.9, 0.1], entries, filled, 0), rel=1e-5)
    assert got[1].item() == pytest.approx(
        _hand_nce([-0.5, 0.4], entries, filled, 1), rel=1e-5)
    # a class without any filled slot adds 0
    _set_queue(head, entries, [[False] * 3, [True] * 3])
    assert head.info_nce(v[:1], torch.tensor([0])).item() == 0


def test_mixup_contrast_equals_hand_computation():
    head = _head(queue_init='empty')
    entries = [[[1., 0.], [0.8, 0.6], [0., 1.]],
               [[-1., 0.2], [0.3, -1.], [0.5, 0.5]]]
    filled = [[True] * 3, [True] * 3]
    _set_queue(head, entries, filled)
    emb = torch.tensor([[[1., 0.5], [0.2, -1.]], [[0.3, 0.3], [-1., 2.]]])
    target = torch.tensor([[1., 1.], [0., 1.]])
    # pairs (0, 0), (0, 1), (1, 1); partners and their classes, lam
    partners = torch.tensor([1, 0, 0])
    pcls = torch.tensor([1, 0, 1])
    lam = torch.tensor([0.6, 0.5, 0.9])
    got = head.mixup_contrast(emb, target, partners, pcls, lam)
    pairs = [(0, 0), (0, 1), (1, 1)]
    per_pair = []
    for n, (i, c) in enumerate(pairs):
        j, cj, lm = int(partners[n]), int(pcls[n]), float(lam[n])
        q = [lm * float(emb[i, c, k]) + (1 - lm) * float(emb[j, cj, k])
             for k in range(2)]
        per_pair.append(lm * _hand_nce(q, entries, filled, c) +
                        (1 - lm) * _hand_nce(q, entries, filled, cj))
    # per image the mean over its classes, then the sum over the images
    hand = (per_pair[0] + per_pair[1]) / 2 + per_pair[2]
    assert got.item() == pytest.approx(hand, rel=1e-5)


def test_drawn_partners_and_lam():
    """Without given draws: partners uniform over the batch, a class among
    the partner's labels, lam from Beta(8, 8) (mean 0.5, sd 0.121)."""
    torch.manual_seed(0)
    head = _head(queue_init='randn')
    present = torch.tensor([[True, False], [False, True], [True, True]])
    drawn = head._draw_labels(present[torch.tensor([0, 1, 2, 2, 2, 2])],
                              torch.zeros(6, dtype=torch.long))
    assert drawn[:2].tolist() == [0, 1]
    a = torch.tensor(8.0)
    lam = torch.distributions.Beta(a, a).sample((20000, ))
    assert lam.mean().item() == pytest.approx(0.5, abs=0.01)
    assert lam.std().item() == pytest.approx(
        math.sqrt(64 / (16**2 * 17)), abs=0.01)


def test_loss_weights_and_contrast_start():
    """loss_cls = MLSM(mean F), loss_coarse = 0.4 MLSM(mean Fc),
    loss_contrast = 0.01 x the InfoNCE from epoch 2 on (0 before); the
    queues are written after the losses."""
    torch.manual_seed(0)
    head = RCAHead(3, 4, queue_len=4, num_centres=2, head_convs=1,
                   head_channels=2, queue_init='randn', mixup_alpha=0.0)
    head.train()
    x = torch.randn(2, 4, 3, 3)
    target = torch.tensor([[1., 0., 1.], [0., 1., 0.]])
    samples = [DataSample().set_gt_score(t) for t in target]
    fine, coarse, _ = head.maps((x, ))
    s, sc = fine.mean(dim=(2, 3)), coarse.mean(dim=(2, 3))
    mlsm = F.multilabel_soft_margin_loss
    head.epoch = 1
    losses = head.loss((x, ), samples)
    assert losses['loss_cls'].item() == pytest.approx(
        mlsm(s, target).item(), rel=1e-5)
    assert losses['loss_coarse'].item() == pytest.approx(
        0.4 * mlsm(sc, target).item(), rel=1e-5)
    assert losses['loss_contrast'].item() == 0
    # epoch 2: with lam = 1 (mixup_alpha 0) the InfoNCE is the sum over the
    # images of the mean over their classes of ell(e_ic, c)
    head.epoch = 2
    queue = head.queue.clone()
    with torch.no_grad():
        mid = head.mid_proj(x)
    masks = RCAHead.region_masks(coarse)
    emb = RCAHead.region_embeddings(mid, masks)
    entries = queue.tolist()
    filled = [[True] * 4] * 3
    hand = (_hand_nce(emb[0, 0].tolist(), entries, filled, 0) +
            _hand_nce(emb[0, 2].tolist(), entries, filled, 2)) / 2 + \
        _hand_nce(emb[1, 1].tolist(), entries, filled, 1)
    losses = head.loss((x, ), samples)
    assert losses['loss_contrast'].item() == pytest.approx(0.01 * hand,
                                                           rel=1e-4)
    # the enqueue: labelled classes above 0.7 only
    probs = torch.sigmoid(s)
    n = int(((target > 0) & (probs > 0.7)).sum())
    assert losses['num_enqueued'].item() == n


# ---------------------------------------------------------------------- #
# the hook's k-means
# ---------------------------------------------------------------------- #
BLOBS = np.array([[0., 0.], [10., 0.], [0., 10.]])


def _blobs(rng, n=30, sd=0.1):
    pts = np.concatenate([c + rng.normal(0, sd, (n, 2)) for c in BLOBS])
    return pts, np.repeat(np.arange(3), n)


def test_kmeans_finds_separated_centres():
    rng = np.random.default_rng(0)
    pts, lab = _blobs(rng)
    centres, inertia = kmeans(pts, 3, n_init=5, max_iter=50,
                              rng=np.random.default_rng(1))
    means = np.stack([pts[lab == i].mean(0) for i in range(3)])
    order = [int(np.argmin(((centres - m)**2).sum(1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    assert np.allclose(centres[order], means, atol=1e-9)
    assert inertia == pytest.approx(((pts - means[lab])**2).sum())


def _runner(tmp_path, head):
    return Runner(
        model=dict(
            type='mmc2am.CAMClassifier',
            backbone=dict(type='mmpretrain.ResNet', depth=18,
                          out_indices=(3, )),
            head=head),
        work_dir=str(tmp_path),
        default_scope='mmc2am',
        experiment_name=f'rca_{abs(hash(str(tmp_path)))}',
        log_level='WARNING')


def test_hook_sets_the_centres_of_the_queues(tmp_path):
    runner = _runner(tmp_path, dict(
        type='RCAHead', num_classes=2, in_channels=512, queue_len=90,
        num_centres=3, head_convs=0, queue_init='empty'))
    head = runner.model.head
    rng = np.random.default_rng(0)
    pts, lab = _blobs(rng)
    embed = np.zeros((90, 512))
    embed[:, 5:7] = pts  # the blobs in two of the 512 dimensions
    with torch.no_grad():
        head.queue[0] = torch.from_numpy(embed).float()
        head.queue_filled[0] = True
        head.queue_filled[1, :2] = True  # 2 entries < 3 centres: kept
    before = head.centres[1].clone()
    hook = RCAMemoryHook(n_init=3, max_iter=50)
    hook.cluster(runner)
    got = head.centres[0].numpy()
    means = np.stack([embed[lab == i].mean(0) for i in range(3)])
    order = [int(np.argmin(((got - m)**2).sum(1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    assert np.allclose(got[order], means, atol=1e-5)
    assert torch.equal(head.centres[1], before)
    assert int(head.num_clusterings) == 1
    # the same seed and epoch give the same centres
    again = head.centres.clone()
    hook.cluster(runner)
    assert torch.equal(head.centres, again)


# ---------------------------------------------------------------------- #
# the configs and a training step
# ---------------------------------------------------------------------- #
def _cfg(name, **options):
    cfg = Config.fromfile(find_config(name))
    cfg.merge_from_dict({'model.backbone.init_cfg': None, **options})
    return cfg


def test_configs_build():
    gen = _cfg('rca_r18_gen.py')
    init_default_scope(gen.default_scope)
    model = MODELS.build(gen.model)
    head = model.head
    assert type(head).__name__ == 'RCAHead' and model.backbone.depth == 18
    assert (head.queue_len, head.num_centres) == (500, 10)
    assert head.queue.shape == (20, 500, 512)
    assert head.centres.shape == (20, 10, 512)
    assert (head.queue_momentum, head.enqueue_thr) == (0.99, 0.7)
    assert (head.coarse_weight, head.contrast_weight) == (0.4, 0.01)
    assert (head.contrast_start_epoch, head.temperature) == (2, 0.07)
    assert head.mixup_alpha == 8.0
    assert head.queue_init == 'empty' and head.attention == 'softmax'
    assert len(head.fine_convs) == 0 and head.fine_cls.kernel_size == (1, 1)
    hook, = gen.custom_hooks
    assert hook.type == 'RCAMemoryHook' and hook.interval == 1
    # the VOC config: the reference's settings; built with narrow heads
    # (its 20 stacks of 512 on 2048 channels hold ~280 M parameters)
    voc = _cfg('rca_r50_voc.py', **{'model.head.head_channels': 2})
    assert voc.model.head.queue_init == 'randn'
    assert voc.model.head.attention == 'linear'
    assert voc.model.head.head_convs == 3
    assert Config.fromfile(find_config('rca_r50_voc.py')).model.head\
        .head_channels == 512
    assert voc.train_dataloader.batch_size == 8
    assert voc.train_cfg.max_epochs == 30
    assert voc.optim_wrapper.optimizer.lr == 1e-3
    assert voc.param_scheduler.milestones == [5, 10]
    same = ('queue_len', 'num_centres', 'queue_momentum', 'enqueue_thr',
            'coarse_weight', 'contrast_weight', 'contrast_start_epoch',
            'temperature', 'mixup_alpha')
    assert all(gen.model.head[k] == voc.model.head[k] for k in same)
    assert gen.custom_hooks == voc.custom_hooks
    assert gen.optim_wrapper.paramwise_cfg == voc.optim_wrapper.paramwise_cfg
    model = MODELS.build(voc.model)
    assert model.head.queue.shape == (20, 500, 2048)
    assert model.backbone.depth == 50
    # the later stages read RCA's outputs
    aug = Config.fromfile(find_config('rca_r18_gen_trainaug.py'))
    assert aug.model.head.type == 'RCAHead'
    assert aug.default_hooks.cam_file.type == 'CAMFileHook'
    assert aug.test_dataloader.dataset.ann_file.endswith('trainaug.txt')
    crf = Config.fromfile(find_config('crf_gen_rca.py'))
    assert crf.model.thresholds_from_seeds.metrics == \
        'work_dirs/rca_r18_gen/test_metrics.json'
    assert crf.test_dataloader.dataset.cam_dir == \
        'work_dirs/rca_r18_gen_trainaug/cams'
    irn = Config.fromfile(find_config('irn_r18_gen_rca.py'))
    assert irn.train_dataloader.dataset.label_dir == \
        'work_dirs/crf_gen_rca/masks'
    assert irn.test_dataloader.dataset.cam_dir == \
        'work_dirs/rca_r18_gen_trainaug/cams'
    voc_aug = Config.fromfile(find_config('rca_r50_voc_trainaug.py'))
    assert voc_aug.default_hooks.cam_file.type == 'CAMFileHook'
    crf = Config.fromfile(find_config('crf_voc_rca.py'))
    assert (crf.model.t_fg, crf.model.t_bg) == (0.30, 0.05)
    assert crf.test_dataloader.dataset.cam_dir == \
        'work_dirs/rca_r50_voc_trainaug/cams'
    irn = Config.fromfile(find_config('irn_r50_voc_rca.py'))
    assert irn.train_dataloader.dataset.label_dir == \
        'work_dirs/crf_voc_rca/masks'
    assert irn.model.test_cfg.bg_thr == 0.25
    methods = Config.fromfile(
        osp.join(ROOT, 'configs', 'pipelines', 'gen.py')).methods
    assert methods.rca == dict(name='RCA', classifier='rca_r18_gen.py')


def test_one_training_step_of_the_generated_config(voc_root, tmp_path):
    """Two epochs of one step each (16 tiny images): the InfoNCE from the
    first (contrast_start_epoch 0 here), the k-means between them, the
    buffers in the checkpoint."""
    cfg = _cfg('rca_r18_gen.py', **{
        'work_dir': str(tmp_path),
        'train_dataloader.dataset.data_root': voc_root,
        'train_dataloader.dataset.indices': 16,
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 10,
        'param_scheduler.end': 2,
        'model.head.contrast_start_epoch': 0,
        'model.head.enqueue_thr': 0.0,
        'model.head.queue_len': 8,
        'model.head.num_centres': 2,
        'log_level': 'WARNING',
    })
    cfg.val_dataloader.dataset.data_root = voc_root
    cfg.test_dataloader.dataset.data_root = voc_root
    runner = Runner.from_cfg(cfg)
    runner.train()
    head = runner.model.head
    hook = next(h for h in runner.hooks if isinstance(h, RCAMemoryHook))
    assert hook.num_passes == 1  # after epoch 1, not after the last
    assert head.epoch == 1 and int(head.num_clusterings) == 1
    assert head.queue_filled.any()
    for p in runner.model.parameters():
        assert torch.isfinite(p).all()
    ckpt = torch.load(osp.join(str(tmp_path), 'epoch_2.pth'),
                      map_location='cpu', weights_only=False)['state_dict']
    for k in ('queue', 'queue_filled', 'queue_ptr', 'centres'):
        assert torch.equal(ckpt[f'head.{k}'], getattr(head, k))
    scalars = osp.join(str(tmp_path), runner.timestamp, 'vis_data',
                       'scalars.json')
    if osp.isfile(scalars):
        with open(scalars) as f:
            text = f.read()
        assert 'nan' not in text
