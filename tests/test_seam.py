"""SEAM and CONTA+SEAM: the PCM and each loss term against hand
computations on small tensors, the two-view loss against a transcription of
SEAM's training step, the inference CAMs, the configs, and one training
step of the generated-data configs on CPU."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.models import SEAMClassifier
from mmc2am.models.cam_generators.seam_cam import min_max_normalize
from mmc2am.models.heads import CONTASEAMHead, SEAMHead
from mmc2am.models.necks import PixelCorrelationModule
from mmc2am.registry import MODELS
from mmc2am.utils import find_config

EPS = 1e-5

# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


# ---------------------------------------------------------------------- #
# the Pixel Correlation Module
# ---------------------------------------------------------------------- #
def test_normalize_cam_by_hand():
    # (1, 3, 1, 2): background logits, then two classes
    cam = torch.tensor([[[[5.0, -3.0]], [[2.0, -1.0]], [[1.0, 3.0]]]])
    got = PixelCorrelationModule.normalize_cam(cam)
    a = (2 - EPS) / (2 + EPS)  # class 1 at pixel 0 (its max is 2)
    b = (1 - EPS) / (3 + EPS)  # class 2 at pixel 0 (its max is 3)
    c = (3 - EPS) / (3 + EPS)  # class 2 at pixel 1
    # pixel 0: class 1 wins (a > b): class 2 zeroed, background 1 - a;
    # pixel 1: class 1 is relu'd to 0, class 2 wins, background 1 - c
    assert a > b
    expected = torch.tensor([[[[1 - a, 1 - c]], [[a, 0.0]], [[0.0, c]]]])
    assert torch.allclose(got, expected, atol=1e-7)
    assert not got.requires_grad


def _hand_pcm(in_channels=(1, 1)):
    """A PCM whose embedding is [image, relu(stage 1)] (stage 2 unused)."""
    pcm = PixelCorrelationModule(
        in_channels=in_channels, mid_channels=(1, 1), out_channels=2,
        image_channels=1)
    with torch.no_grad():
        for conv in pcm.projections:
            conv.weight.fill_(1.0)
        pcm.embed.weight.zero_()
        pcm.embed.weight[0, 0] = 1.0  # image
        pcm.embed.weight[1, 1] = 1.0  # relu(stage 1)
    return pcm


def test_pcm_affinity_and_refined_cam_by_hand():
    """Three pixels, embeddings (1, 0), (0, 2), (3, 0): pixels 0 and 2 are
    alike, pixel 1 is orthogonal to both."""
    pcm = _hand_pcm()
    img = torch.tensor([1.0, 0.0, 3.0]).view(1, 1, 1, 3)
    stage1 = torch.tensor([-4.0, 2.0, -1.0]).view(1, 1, 1, 3)  # relu: 0 2 0
    stage2 = torch.zeros(1, 1, 1, 3)
    x = torch.tensor([[0.2, 0.5, 0.8], [1.0, 0.0, 0.0]]).view(1, 2, 1, 3)
    y = pcm(x, [stage1, stage2], img)

    n0, n1, n2 = 1 / (1 + EPS), 2 / (2 + EPS), 3 / (3 + EPS)  # unit norms
    a = torch.tensor([[n0 * n0, 0, n0 * n2],
                      [0, n1 * n1, 0],
                      [n2 * n0, 0, n2 * n2]], dtype=torch.float64)
    A = a / (a.sum(0, keepdim=True) + EPS)  # each column sums to ~1
    expected = x.double().view(2, 3) @ A
    assert torch.allclose(y.double().view(2, 3), expected, atol=1e-6)
    # in words: pixels 0 and 2 take the mean of the two, pixel 1 keeps its own
    assert torch.allclose(
        y.view(2, 3),
        torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.0, 0.5]]), atol=1e-4)
    aff = pcm.affinity(pcm.embedding([stage1, stage2], img, (1, 3)))
    assert torch.allclose(aff[0].double(), A, atol=1e-6)


def test_pcm_relu_drops_opposite_pixels_and_resizes_stages():
    """Embeddings (1, 0) and (-1, 0): the negative cosine is cut by the
    ReLU, each pixel keeps its own value. A stage at twice the CAM's size
    is resized to it first."""
    pcm = _hand_pcm()
    img = torch.tensor([1.0, -1.0]).view(1, 1, 1, 2)
    big = torch.zeros(1, 1, 2, 4)
    x = torch.tensor([0.3, 0.9]).view(1, 1, 1, 2)
    y = pcm(x, [big, big], img)
    n = 1 / (1 + EPS)
    assert torch.allclose(y.flatten(), x.flatten() * n * n / (n * n + EPS))


def test_pcm_gradients_reach_only_its_layers():
    pcm = PixelCorrelationModule(in_channels=(2, 3), mid_channels=(2, 2))
    f1 = torch.randn(1, 2, 3, 3, requires_grad=True)
    f2 = torch.randn(1, 3, 3, 3, requires_grad=True)
    cam = torch.randn(1, 4, 3, 3, requires_grad=True)
    y = pcm(PixelCorrelationModule.normalize_cam(cam), [f1, f2],
            torch.randn(1, 3, 6, 6))
    y.sum().backward()
    assert f1.grad is None and f2.grad is None and cam.grad is None
    assert pcm.embed.weight.grad.abs().sum() > 0
    assert all(c.weight.grad.abs().sum() > 0 for c in pcm.projections)


# ---------------------------------------------------------------------- #
# the loss terms
# ---------------------------------------------------------------------- #
def test_max_norm_by_hand():
    p = torch.tensor([-1.0, 1.0, 3.0, 2.0]).view(1, 1, 2, 2)
    got = SEAMHead.max_norm(p).flatten()
    # relu: 0 1 3 2, min 0, max 3
    expected = torch.tensor([0.0, (1 - EPS) / (3 + EPS), (3 - EPS) / (3 + EPS),
                             (2 - EPS) / (3 + EPS)])
    assert torch.allclose(got, expected, atol=1e-7)


def test_min_pool_loss_by_hand():
    # B = 2, 2 classes, 2 x 4 pixels: k = 8 // 4 = 2 smallest class maxima
    x = torch.zeros(2, 2, 2, 4)
    x[0, 0] = torch.tensor([[1.0, -2.0, 3.0, 0.5], [4.0, 4.0, 4.0, 4.0]])
    x[0, 1] = torch.tensor([[0.0, -1.0, 2.0, 0.7], [0.0, 0.0, 0.0, 0.0]])
    # image 0 maxima: 1, -1, 3, 0.7, 4, 4, 4, 4 -> smallest -1, 0.7
    x[1, 0] = torch.tensor([[0.2, 0.4, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0]])
    # image 1 maxima: 0.2, 0.4, 5 ... -> smallest 0.2, 0.4
    expected = (0.0 + 0.7 + 0.2 + 0.4) / (2 * 2)
    assert SEAMHead.min_pool_loss(x) == pytest.approx(expected, abs=1e-6)
    # the reference's k = h * w // 4
    assert SEAMHead.min_pool_loss(x, 0.5) == pytest.approx(
        (0 + 0.7 + 1 + 3 + 0.2 + 0.4 + 5 + 5) / (4 * 2), abs=1e-6)


def test_background_fill_and_max_onehot_by_hand():
    x = torch.tensor([[[[9.0, 9.0]], [[0.2, 0.6]], [[0.5, 0.1]],
                       [[0.5, 0.3]]]])  # (1, 4, 1, 2)
    filled = SEAMHead.fill_background(x)
    assert torch.allclose(filled[0, :, 0, 0],
                          torch.tensor([0.5, 0.2, 0.5, 0.5]))
    assert torch.allclose(filled[0, :, 0, 1],
                          torch.tensor([0.4, 0.6, 0.1, 0.3]))
    onehot = SEAMHead.max_onehot(filled)
    # pixel 0: a tie of classes 2 and 3 keeps both; pixel 1: class 1 only
    assert torch.equal(onehot[0, :, 0, 0], torch.tensor([0.5, 0.0, 0.5, 0.5]))
    assert torch.allclose(onehot[0, :, 0, 1], torch.tensor([0.4, 0.6, 0, 0]))
    assert x[0, 0, 0, 0] == 9.0  # copies, the input untouched


def test_ecr_loss_top_20_percent_by_hand():
    target = torch.zeros(2, 2, 1, 5)
    rv = torch.zeros(2, 2, 1, 5)
    # image 0: |diff| 0.1 .. 1.0 over its 10 entries; k = int(10 * 0.2) = 2
    rv[0] = torch.arange(1, 11, dtype=torch.float32).view(2, 1, 5) / 10
    # image 1: two large differences of opposite sign, the rest 0
    target[1, 0, 0, 0], rv[1, 1, 0, 4] = 3.0, 2.0
    expected = (1.0 + 0.9 + 3.0 + 2.0) / 4
    assert SEAMHead.ecr_loss(target, rv) == pytest.approx(expected)
    assert SEAMHead.ecr_loss(target, rv, 0.5) == pytest.approx(
        (1.0 + 0.9 + 0.8 + 0.7 + 0.6 + 3.0 + 2.0) / 10)


def _tiny_head(cls=SEAMHead, **kwargs):
    torch.manual_seed(0)
    return cls(num_classes=3, in_channels=4,
               pcm=dict(type='mmc2am.PixelCorrelationModule',
                        in_channels=(2, 3), mid_channels=(2, 2)),
               **kwargs)


def test_classification_term_by_hand():
    """Features constant over space: GAP of the (upsampled) CAM is
    ``W x``; loss_cls is the mean over the views of the multi-label
    soft-margin loss of its foreground part, the background logit left
    out."""
    head = _tiny_head(dropout=0.0)
    x1 = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
    x2 = torch.tensor([[0.0, 1.0, 1.0, -1.0]])
    feats1 = (torch.randn(1, 2, 2, 2), torch.randn(1, 3, 2, 2),
              x1[:, :, None, None].expand(1, 4, 2, 2))
    feats2 = (torch.randn(1, 2, 1, 1), torch.randn(1, 3, 1, 1),
              x2[:, :, None, None])
    target = torch.tensor([[1.0, 0.0, 1.0]])
    losses = head.loss_two_views(feats1, torch.randn(1, 3, 32, 32), feats2,
                                 torch.randn(1, 3, 9, 9), target)
    W = head.conv.weight.detach().flatten(1).double()  # (3, 4) foreground

    def msml(z):  # multilabel soft margin, by hand
        y = target.double()[0]
        return -(y * torch.log(torch.sigmoid(z)) +
                 (1 - y) * torch.log(torch.sigmoid(-z))).mean()

    expected = (msml(W @ x1.double()[0]) + msml(W @ x2.double()[0])) / 2
    assert losses['loss_cls'].item() == pytest.approx(expected.item(),
                                                      abs=1e-6)
    # the background row of SEAM's fc8 never gets a gradient
    sum(losses.values()).backward()
    assert head.bg_conv.weight.grad is None or \
        head.bg_conv.weight.grad.abs().sum() == 0


def _reference_losses(cam1, cam_rv1, cam2, cam_rv2, label, scale=0.3):
    """train_SEAM.py lines 113-142 as written (at the views' input sizes),
    on clones, without gradients."""

    def adaptive_min_pooling_loss(x):
        n, c, h, w = x.size()
        k = h * w // 4
        x = torch.max(x, dim=1)[0]
        y = torch.topk(x.view(n, -1), k=k, dim=-1, largest=False)[0]
        y = F.relu(y, inplace=False)
        return torch.sum(y) / (k * n)

    def max_onehot(x):
        x_max = torch.max(x[:, 1:, :, :], dim=1, keepdim=True)[0]
        x[:, 1:, :, :][x[:, 1:, :, :] != x_max] = 0
        return x

    def max_norm(p, e=1e-5):
        N, C, H, W = p.size()
        p = F.relu(p)
        max_v = torch.max(p.view(N, C, -1), dim=-1)[0].view(N, C, 1, 1)
        min_v = torch.min(p.view(N, C, -1), dim=-1)[0].view(N, C, 1, 1)
        return F.relu(p - min_v - e) / (max_v - min_v + e)

    cam1, cam_rv1, cam2, cam_rv2 = (t.clone() for t in (cam1, cam_rv1, cam2,
                                                        cam_rv2))
    N = label.shape[0]
    label = torch.cat((torch.ones((N, 1)), label), dim=1)
    label = label.unsqueeze(2).unsqueeze(3)
    label1 = F.adaptive_avg_pool2d(cam1, (1, 1))
    loss_rvmin1 = adaptive_min_pooling_loss((cam_rv1 * label)[:, 1:, :, :])
    cam1 = F.interpolate(max_norm(cam1), scale_factor=scale, mode='bilinear',
                         align_corners=True) * label
    cam_rv1 = F.interpolate(max_norm(cam_rv1), scale_factor=scale,
                            mode='bilinear', align_corners=True) * label
    label2 = F.adaptive_avg_pool2d(cam2, (1, 1))
    loss_rvmin2 = adaptive_min_pooling_loss((cam_rv2 * label)[:, 1:, :, :])
    cam2 = max_norm(cam2) * label
    cam_rv2 = max_norm(cam_rv2) * label
    loss_cls1 = F.multilabel_soft_margin_loss(label1[:, 1:, :, :],
                                              label[:, 1:, :, :])
    loss_cls2 = F.multilabel_soft_margin_loss(label2[:, 1:, :, :],
                                              label[:, 1:, :, :])
    ns, cs, hs, ws = cam2.size()
    loss_er = torch.mean(torch.abs(cam1[:, 1:, :, :] - cam2[:, 1:, :, :]))
    cam1[:, 0, :, :] = 1 - torch.max(cam1[:, 1:, :, :], dim=1)[0]
    cam2[:, 0, :, :] = 1 - torch.max(cam2[:, 1:, :, :], dim=1)[0]
    tensor_ecr1 = torch.abs(max_onehot(cam2.detach()) - cam_rv1)
    tensor_ecr2 = torch.abs(max_onehot(cam1.detach()) - cam_rv2)
    k = int(cs * hs * ws * 0.2)
    loss_ecr1 = torch.mean(torch.topk(tensor_ecr1.view(ns, -1), k=k,
                                      dim=-1)[0])
    loss_ecr2 = torch.mean(torch.topk(tensor_ecr2.view(ns, -1), k=k,
                                      dim=-1)[0])
    return dict(loss_cls=(loss_cls1 + loss_cls2) / 2,
                loss_rvmin=(loss_rvmin1 + loss_rvmin2) / 2,
                loss_er=loss_er, loss_ecr=loss_ecr1 + loss_ecr2)


def test_two_view_loss_equals_the_reference_step():
    """loss_cls, loss_rvmin, loss_er (equivariance L1) and loss_ecr (top 20 %
    cross-view consistency) against SEAM's training step on the same two
    views' CAMs (eval mode: no dropout)."""
    head = _tiny_head().eval()
    torch.manual_seed(1)
    img1, img2 = torch.randn(2, 3, 40, 40), torch.randn(2, 3, 12, 12)
    feats1 = (torch.randn(2, 2, 5, 5), torch.randn(2, 3, 3, 3),
              torch.randn(2, 4, 3, 3))
    feats2 = (torch.randn(2, 2, 2, 2), torch.randn(2, 3, 1, 1),
              torch.randn(2, 4, 1, 1))
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    got = head.loss_two_views(feats1, img1, feats2, img2, target)
    with torch.no_grad():
        views = []
        for fs, x in ((feats1, img1), (feats2, img2)):
            cam, rv, _ = head.view(fs, x)
            views += [F.interpolate(t, x.shape[-2:], mode='bilinear',
                                    align_corners=True) for t in (cam, rv)]
        ref = _reference_losses(*views, target)
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].item() == pytest.approx(ref[k].item(), abs=1e-6), k
    assert all(v.item() > 0 for v in ref.values())


def test_loss_weights_and_errors():
    head = _tiny_head(loss_weights=dict(loss_er=0.0, loss_ecr=2.0)).eval()
    one = _tiny_head().eval()
    feats = (torch.randn(1, 2, 2, 2), torch.randn(1, 3, 2, 2),
             torch.randn(1, 4, 2, 2))
    small = tuple(f[..., :1, :1] for f in feats)
    args = (feats, torch.randn(1, 3, 8, 8), small, torch.randn(1, 3, 2, 2),
            torch.tensor([[0.0, 1.0, 0.0]]))
    a, b = head.loss_two_views(*args), one.loss_two_views(*args)
    assert a['loss_er'] == 0
    assert a['loss_ecr'].item() == pytest.approx(2 * b['loss_ecr'].item())
    with pytest.raises(ValueError, match='both views'):
        head.loss(feats, [DataSample().set_gt_label([1])])
    with pytest.raises(ValueError, match='unknown terms'):
        _tiny_head(loss_weights=dict(loss_seam=1.0))


# ---------------------------------------------------------------------- #
# CONTA + SEAM
# ---------------------------------------------------------------------- #
def test_conta_seam_scores_are_contas_adjusted_scores_by_hand():
    head = _tiny_head(CONTASEAMHead, dropout=0.0, embed_channels=2)
    D = torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 1.0],
                      [1.0, 1.0, 1.0, 1.0]])
    head.set_confounder_set(D)
    f = torch.randn(2, 4, 3, 3)
    x = f.mean(dim=(2, 3)).double()
    q = x @ head.query.weight.double().t() + head.query.bias.double()
    k = D.double() @ head.key.weight.double().t() + head.key.bias.double()
    a = torch.softmax(q @ k.t() / math.sqrt(2), dim=1) / 3  # uniform prior
    z = a @ D.double()
    s = x @ head.conv.weight.double().flatten(1).t() + \
        z @ head.conf_fc.weight.double().t() + head.conf_fc.bias.double()
    got = head.class_scores(f, torch.zeros(2, 4, 3, 3))
    assert torch.allclose(got.double(), s, atol=1e-6)
    # validation scores and CAMs: CONTA's scores, SEAM's CAMs of W_x
    assert torch.allclose(head(f).double(), s, atol=1e-6)
    assert torch.allclose(head.cam(f), F.relu(head.conv(f)))
    with pytest.raises(ValueError, match='cam_adjusted'):
        _tiny_head(CONTASEAMHead, cam_adjusted=True)


# ---------------------------------------------------------------------- #
# inference
# ---------------------------------------------------------------------- #
def test_min_max_normalize_by_hand():
    cams = torch.tensor([[[2.0, 4.0], [6.0, 2.0]], [[0.0, -1.0], [1.0,
                                                                  3.0]]])
    got = min_max_normalize(cams)
    # class 0: min 2 max 6; class 1: relu then min 0 max 3
    expected = torch.tensor([[[0.0, (2 - EPS) / (4 + EPS)],
                              [(4 - EPS) / (4 + EPS), 0.0]],
                             [[0.0, 0.0], [(1 - EPS) / (3 + EPS),
                                           (3 - EPS) / (3 + EPS)]]])
    assert torch.allclose(got, expected, atol=1e-7)


def test_seam_color_jitter_is_torchvisions_on_the_rgb_image():
    from PIL import Image
    from torchvision.transforms import ColorJitter

    from mmc2am.datasets.transforms import SEAMColorJitter
    bgr = np.random.default_rng(0).integers(0, 256, (6, 5, 3), np.uint8)
    same = SEAMColorJitter(0, 0, 0, 0)(dict(img=bgr.copy()))['img']
    assert np.array_equal(same, bgr)
    torch.manual_seed(3)
    got = SEAMColorJitter()(dict(img=bgr.copy()))['img']
    torch.manual_seed(3)
    rgb = ColorJitter(0.3, 0.3, 0.3, 0.1)(Image.fromarray(bgr[..., ::-1]))
    assert np.array_equal(got, np.asarray(rgb)[..., ::-1])
    assert not np.array_equal(got, bgr)


def _cfg(name):
    cfg = Config.fromfile(find_config(name))
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    return cfg


def test_seam_cam_generator_uses_the_pcm_cams():
    cfg = _cfg('seam_r18_gen.py')
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model).eval()
    img = torch.randn(1, 3, 64, 48)
    sample = DataSample(metainfo=dict(img_shape=(64, 48))).set_gt_label([2, 5])
    out, = model.cam_generator(model, img, [sample])
    assert out.cam_keys.tolist() == [2, 5]
    assert out.high_res_cam.shape == (2, 64, 48) and out.cam.shape == (2, 16,
                                                                       12)
    with torch.no_grad():  # forward_cam: the PCM CAM, or the plain one
        feats = model.extract_feat(img)
        rv = model.head.refined_cam(feats, img)[0, [2, 5]]
        assert torch.allclose(model.forward_cam(img)[0, [2, 5]], rv)
        plain = model.forward_cam(img, refine=False)
        assert torch.allclose(plain, F.relu(model.head.conv(feats[-1])))
    assert out.high_res_cam.min() >= 0
    # max (M - m - eps) / (M - m + eps): 1 up to the eps of small maps
    assert torch.allclose(out.high_res_cam.flatten(1).max(1)[0],
                          torch.ones(2), atol=1e-2)


# ---------------------------------------------------------------------- #
# configs
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('name,depth,head', [
    ('seam_r50_voc.py', 50, 'SEAMHead'),
    ('seam_r18_gen.py', 18, 'SEAMHead'),
    ('conta_seam_r50_voc.py', 50, 'CONTASEAMHead'),
    ('conta_seam_r18_gen.py', 18, 'CONTASEAMHead'),
])
def test_configs_build(name, depth, head):
    cfg = _cfg(name)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert isinstance(model, SEAMClassifier) and model.scale_factor == 0.3
    assert type(model.head).__name__ == head
    assert model.backbone.depth == depth
    assert type(model.cam_generator).__name__ == 'SEAMCAM'
    assert model.cam_generator.scales == (0.5, 1.0, 1.5, 2.0)
    assert model.head.dropout.p == 0.5 and model.head.ecr_ratio == 0.2
    assert all(w == 1.0 for w in model.head.loss_weights.values())
    assert cfg.train_dataloader.batch_size == 8
    opt = cfg.optim_wrapper
    assert opt.optimizer.weight_decay == 5e-4
    assert opt.paramwise_cfg.custom_keys.head.lr_mult == 10
    assert opt.paramwise_cfg.bias_lr_mult == 2
    if 'voc' in name:
        assert opt.optimizer.lr == 0.01 and opt.optimizer.momentum == 5e-4
        assert cfg.train_cfg.max_epochs == 8
        crop = cfg.train_dataloader.dataset.pipeline[-2]
        jitter = cfg.train_dataloader.dataset.pipeline[3]
        assert jitter == dict(type='SEAMColorJitter', brightness=0.3,
                              contrast=0.3, saturation=0.3, hue=0.1)
        assert crop == dict(type='IRNRandomCrop', crop_size=448)
    if head == 'CONTASEAMHead':
        hook, = cfg.custom_hooks
        assert hook.type == 'ConfounderSetHook'
        assert 'seam' in hook.mask_dir and 'seam' in cfg.load_from
        assert model.head.embed_channels == 21


def test_generated_configs_keep_the_voc_settings():
    voc, gen = _cfg('seam_r50_voc.py'), _cfg('seam_r18_gen.py')
    pcm = dict(voc.model.head.pcm, in_channels=(128, 256))
    assert gen.model.head == dict(voc.model.head, in_channels=512, pcm=pcm)
    assert gen.model.test_cfg == voc.model.test_cfg
    assert gen.model.scale_factor == voc.model.scale_factor
    cvoc, cgen = _cfg('conta_seam_r50_voc.py'), _cfg('conta_seam_r18_gen.py')
    assert cgen.model.head == dict(cvoc.model.head, in_channels=512, pcm=pcm)
    assert cgen.optim_wrapper == cvoc.optim_wrapper  # SEAM's as it ran


# ---------------------------------------------------------------------- #
# one training step on CPU
# ---------------------------------------------------------------------- #
@pytest.mark.parametrize('name', ['seam_r18_gen.py', 'conta_seam_r18_gen.py'])
def test_one_training_step_of_the_generated_config(voc_root, tmp_path, name):
    cfg = _cfg(name)
    cfg.merge_from_dict({
        'work_dir': str(tmp_path / 'work'),
        'load_from': None,
        'custom_hooks': [],
        'train_dataloader.dataset.data_root': voc_root,
        'train_dataloader.dataset.indices': 8,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 100,
        'val_dataloader.dataset.data_root': voc_root,
        'test_dataloader.dataset.data_root': voc_root,
        'default_hooks.checkpoint.interval': 100,
        'log_level': 'WARNING',
        'experiment_name': f'seam_{name}_{abs(hash(str(tmp_path)))}',
    })
    runner = Runner.from_cfg(cfg)
    model = runner.model
    if name.startswith('conta'):
        model.head.set_confounder_set(torch.rand(20, 512))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    losses = []

    class Record(Hook):  # the step's log values
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            losses.append({k: torch.as_tensor(v).detach().item()
                           for k, v in outputs.items()})

    runner.register_hook(Record())
    runner.train()
    assert runner.iter == 1 and len(losses) == 1
    step, = losses
    assert {'loss_cls', 'loss_rvmin', 'loss_er', 'loss_ecr'} <= set(step)
    assert all(np.isfinite(v) for v in step.values())
    changed = {k for k, v in model.named_parameters()
               if not torch.equal(v.detach(), before[k])}
    assert any(k.startswith('backbone.') for k in changed)
    assert any(k.startswith('head.pcm.') for k in changed)
    assert 'head.conv.weight' in changed
    assert osp.isdir(runner.work_dir)
