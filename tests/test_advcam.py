"""AdvCAM: one climbing step and the accumulation against hand computations,
the AdvCAM generator's output format (MultiScaleCAM's), the test configs."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.cam import multi_scale_cam
from mmc2am.cam.advcam import advcam_climb, advcam_step
from mmc2am.evaluation.metrics.seed_metric import SeedMetric
from mmc2am.models.cam_generators import AdvCAM, MultiScaleCAM
from mmc2am.models.heads import CausalCAMHead
from mmc2am.utils import find_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NUM_CLASSES = 4


# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')


# --------------------------------------------------------------------------
# a linear model: every quantity of a step by hand
# --------------------------------------------------------------------------
class PixelCAMNet(nn.Module):
    """The smallest CAM classifier: the image itself is the feature map
    (D = 3 channels, stride 1) under a real :class:`CausalCAMHead`, so the
    CAM ``relu(W x)`` and every gradient of a step have a closed form."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.head = CausalCAMHead(num_classes=weight.shape[0], in_channels=3)
        with torch.no_grad():
            self.head.conv.weight.copy_(weight[:, :, None, None])

    def extract_feat(self, x):
        return (x, )


def hand_step(W, x, targets, init, coeff, stepsize, th):
    """One AdvCAM step of PixelCAMNet written out (rows 0..K-1 the images,
    K..2K-1 their flips), as obtain_CAM_masking.py + GradCAM compute it.

    Returns A^t (K, h, w) and x^{t+1}.
    """
    K = len(targets)
    C = W.shape[0]
    h, w = x.shape[-2:]
    z = torch.einsum('kd,bdhw->bkhw', W, x)  # logit maps, before ReLU
    regions, x_next = [], x.clone()
    for j, c in enumerate(targets):
        views = (j, K + j)
        # Grad-CAM: grad of sum relu(z_c) wrt f is W_c[d] [z_c > 0]; its
        # positive entries: n_+ (positive weights) x P_b (positive pixels);
        # weights sum_hw(grad) / N = W_c P_b / N, so A_b = relu(z_c) P_b / N
        P = [(z[b, c] > 0).sum().float() for b in views]
        N = (W[c] > 0).sum().float() * (P[0] + P[1])
        a = [P[0] / (N + 1e-12), P[1] / (N + 1e-12)]
        A = torch.relu(z[j, c]) * a[0] + (torch.relu(z[K + j, c]) *
                                          a[1]).flip(-1)
        regions.append(A)
        A0 = A if init is None else init[j]
        M = (A / A.max() > th).float()
        dR_dA = torch.sign(A - A0) * M  # d sum(M |A - A0|) / dA
        grads = []
        for i, b in enumerate(views):
            # d(y_c - sum_{k != c} y_k)/dx, y_k = mean_hw relu(z_k)
            g_climb = sum((1.0 if k == c else -1.0) * W[k][:, None, None] *
                          (z[b, k] > 0).float() for k in range(C)) / (h * w)
            S = dR_dA if i == 0 else dR_dA.flip(-1)
            g_restrict = a[i] * W[c][:, None, None] * (z[b, c] > 0) * S
            grads.append(g_climb - coeff * g_restrict)
        gmax = max(g.abs().max() for g in grads)
        lo = min(x[b].min() for b in views)
        hi = max(x[b].max() for b in views)
        for g, b in zip(grads, views):
            x_next[b] = torch.clamp(x[b] + stepsize * g / (gmax + 1e-12),
                                    lo, hi)
    return torch.stack(regions), x_next


def _pixel_net(seed=0, C=3):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(C, 3, generator=g)
    return PixelCAMNet(W), W, g


@pytest.mark.parametrize('stepsize', [0.08, 3.0])
def test_one_step_equals_hand_computation(stepsize):
    model, W, g = _pixel_net()
    targets = [2, 0]
    x = torch.randn(4, 3, 5, 6, generator=g)  # 2 classes x (image, flip)
    A, _ = hand_step(W, x, targets, None, 7.0, stepsize, 0.5)
    # A^0 off the current maps: the restricting term has a gradient
    init = A * (0.5 + torch.rand(A.shape, generator=g))
    A_hand, x_hand = hand_step(W, x, targets, init, 7.0, stepsize, 0.5)
    A_step, x_step = advcam_step(
        model, x, torch.tensor(targets), init, ad_coeff=7.0,
        ad_stepsize=stepsize, score_th=0.5)
    assert torch.allclose(A_step, A_hand, rtol=1e-5, atol=1e-7)
    assert torch.allclose(x_step, x_hand, rtol=1e-5, atol=1e-6)
    # each class's step is normalised by its own max |grad|: the largest
    # move of each class is the step size (unless clamped)
    moved = (x_step - x).abs().view(2, 2, -1).amax(dim=(0, 2))
    assert torch.all(moved <= stepsize + 1e-6)
    if stepsize == 3.0:  # the clamp to the current min / max is active
        for j in range(2):
            pair = x[[j, j + 2]]
            lo, hi = pair.min(), pair.max()
            hit = (x_step[[j, j + 2]] == lo) | (x_step[[j, j + 2]] == hi)
            assert hit.sum() > 2
    else:
        assert torch.allclose(moved, torch.full((2, ), stepsize))
    # the restricting term matters: without it the step differs
    _, x_free = advcam_step(model, x, torch.tensor(targets), init,
                            ad_coeff=0.0, ad_stepsize=stepsize)
    assert not torch.allclose(x_free, x_step)


def test_first_step_has_no_restriction_and_mask_of_current_map():
    """At t = 0, A^t = A^0: |A - A^0| = 0 and the step is the climb alone."""
    model, W, g = _pixel_net(1)
    x = torch.randn(2, 3, 4, 4, generator=g)
    A, x1 = advcam_step(model, x, torch.tensor([1]), None, ad_coeff=7.0)
    A_hand, x1_hand = hand_step(W, x, [1], None, 0.0, 0.08, 0.5)
    assert torch.allclose(A, A_hand) and torch.allclose(x1, x1_hand)
    # an all-zero map (no positive pixel) gives zeros, not NaN
    A_none, x_none = advcam_step(model, torch.zeros(2, 3, 4, 4),
                                 torch.tensor([1]), None)
    assert (A_none == 0).all() and torch.isfinite(x_none).all()


def test_accumulation_over_steps_equals_hand_computation():
    model, W, g = _pixel_net(2)
    img = torch.randn(1, 3, 5, 7, generator=g)
    targets = [0, 1, 2]
    x = torch.cat([img.expand(3, -1, -1, -1),
                   img.flip(-1).expand(3, -1, -1, -1)])
    total, A0 = 0, None
    for _ in range(4):  # sum_{t<4} A^t, A^0 the regions of the first step
        A, x = hand_step(W, x, targets, A0, 7.0, 0.08, 0.5)
        A0 = A if A0 is None else A0
        total = total + A
    out = advcam_climb(model, img, torch.tensor(targets), num_iter=4)
    assert torch.allclose(out, total, rtol=1e-5, atol=1e-6)
    # without flips: one view per class, the Grad-CAM is relu(z_c) / n_+
    out1 = advcam_climb(model, img, torch.tensor([2]), num_iter=1,
                        flip=False)
    z = torch.einsum('d,dhw->hw', W[2], img[0])
    assert torch.allclose(out1[0], torch.relu(z) / (W[2] > 0).sum())


def test_bad_arguments():
    model, _, _ = _pixel_net()
    with pytest.raises(ValueError, match='images for'):
        advcam_step(model, torch.randn(3, 3, 4, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='num_iter'):
        advcam_climb(model, torch.randn(1, 3, 4, 4), torch.tensor([0]), 0)
    with pytest.raises(ValueError, match='scale_iters'):
        AdvCAM(scales=(1.0, 0.5), scale_iters=(2, ))
    with pytest.raises(ValueError, match='scale_weights'):
        AdvCAM(scales=(1.0, 0.5), scale_weights=(1, 2, 1))


# --------------------------------------------------------------------------
# a real CAM classifier
# --------------------------------------------------------------------------
def build_classifier():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='mmc2am.CAMClassifier',
            backbone=dict(
                type='ResNet', depth=18, strides=(1, 2, 2, 1),
                out_indices=(3, ), frozen_stages=2, norm_eval=True),
            head=dict(type='mmc2am.CausalCAMHead', num_classes=NUM_CLASSES,
                      in_channels=512, global_cam_size=8)))
    model.init_weights()
    # non-negative class weights on post-ReLU features: live CAMs
    with torch.no_grad():
        model.head.conv.weight.abs_()
        model.head.conv.weight[:, ::3] *= -0.3  # some negative weights
    return model.eval()


def test_grad_cam_of_the_classifier_is_the_scaled_cam():
    """The generic Grad-CAM (autograd on the backbone output) equals the
    closed form relu(z_c) P_b / (n_+ (P_0 + P_1)) on IRN's linear head."""
    model = build_classifier()
    g = torch.Generator().manual_seed(1)
    img = torch.randn(1, 3, 40, 56, generator=g)
    x = torch.cat([img, img.flip(-1)])
    c = 2
    A, _ = advcam_step(model, x, torch.tensor([c]), update=False)
    with torch.no_grad():
        cam = model.forward_cam(x)[:, c]
    P = (cam > 0).flatten(1).sum(1).float()
    n_pos = (model.head.conv.weight[c] > 0).sum()
    hand = cam[0] * P[0] / (n_pos * P.sum()) + (cam[1] * P[1] /
                                                 (n_pos * P.sum())).flip(-1)
    assert A.shape == (1, 3, 4) and A.max() > 0
    assert torch.allclose(A[0], hand, rtol=1e-5, atol=1e-8)


def test_classes_batched_equal_one_at_a_time():
    model = build_classifier()
    img = torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(2))
    both = advcam_climb(model, img, torch.tensor([0, 3]), num_iter=3)
    one = torch.cat([advcam_climb(model, img, torch.tensor([k]), num_iter=3)
                     for k in (0, 3)])
    assert torch.allclose(both, one, rtol=1e-4, atol=1e-6)
    chunked = AdvCAM(scales=(1.0, ), adv_iter=3, class_chunk=1).multi_scale(
        model, img, torch.tensor([0, 3]))
    whole = AdvCAM(scales=(1.0, ), adv_iter=3).multi_scale(
        model, img, torch.tensor([0, 3]))
    assert torch.allclose(chunked[1], whole[1], rtol=1e-4, atol=1e-6)


def test_one_step_without_flip_is_the_plain_multi_scale_cam():
    """adv_iter=1, no flip: the per-scale map is relu(z_c) / n_+, so the
    multi-scale sums are the plain CAMs' sums times 1 / n_+ (same
    resizing)."""
    model = build_classifier()
    img = torch.randn(1, 3, 36, 44, generator=torch.Generator().manual_seed(3))
    keys = torch.tensor([1, 2])
    scales = (1.0, 0.5, 1.5)
    s4, hr = AdvCAM(scales, flip=False, adv_iter=1).multi_scale(
        model, img, keys)
    with torch.no_grad():
        ref4, ref_hr = multi_scale_cam(model.forward_cam, img, scales, False,
                                       keys=[keys])
    n_pos = (model.head.conv.weight[keys, :, 0, 0] > 0).sum(1).float()
    assert torch.allclose(s4 * n_pos[:, None, None], ref4[0], rtol=1e-4,
                          atol=1e-5)
    assert torch.allclose(hr * n_pos[:, None, None], ref_hr[0], rtol=1e-4,
                          atol=1e-5)
    # scale_weights weigh each scale's map in the sum
    s4_w, _ = AdvCAM(scales, flip=False, adv_iter=1,
                     scale_weights=(2, 2, 2)).multi_scale(model, img, keys)
    assert torch.allclose(s4_w, 2 * s4)


def _samples(shapes, labels):
    out = []
    for i, ((h, w), lb) in enumerate(zip(shapes, labels)):
        s = DataSample().set_gt_label(lb)
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w),
                            img_id=f'img_{i}'))
        gt = torch.zeros(h, w, dtype=torch.long)
        if lb:
            gt[h // 4:h // 2, w // 4:w // 2] = lb[0] + 1
        s.set_field(gt, 'gt_seg_map', field_type='data')
        out.append(s)
    return out


def test_images_batched_equal_each_alone():
    """A data batch climbs its images of one size as one batch of (image,
    class) rows: each image's maps are those of the image alone (an image
    without classes and one of another size, padded, in the batch)."""
    model = build_classifier()
    shapes = [(40, 48), (40, 48), (33, 41), (40, 48)]
    labels = [[3, 1], [2], [0, 2], []]
    inputs = torch.randn(4, 3, 40, 48,
                         generator=torch.Generator().manual_seed(5))
    gen = AdvCAM(scales=(1.0, 0.5), adv_iter=3, scale_iters=(3, 2))
    chunked = AdvCAM(scales=(1.0, 0.5), adv_iter=3, scale_iters=(3, 2),
                     class_chunk=2)
    with torch.no_grad():
        batch = gen(model, inputs, _samples(shapes, labels))
        rows2 = chunked(model, inputs, _samples(shapes, labels))
        alone = [gen(model, inputs[i:i + 1], _samples([hw], [lb]))[0]
                 for i, (hw, lb) in enumerate(zip(shapes, labels))]
    for b, c, a, (h, w), lb in zip(batch, rows2, alone, shapes, labels):
        assert b.cam_keys.tolist() == a.cam_keys.tolist() == sorted(lb)
        assert b.high_res_cam.shape == (len(lb), h, w)
        for key in ('cam', 'high_res_cam'):
            assert torch.allclose(b.get(key), a.get(key), rtol=1e-4,
                                  atol=1e-6)
            assert torch.allclose(c.get(key), a.get(key), rtol=1e-4,
                                  atol=1e-6)
    # each image gets its own rows: images 0 and 1 differ
    assert not torch.allclose(batch[0].high_res_cam[:1],
                              batch[1].high_res_cam, atol=1e-3)
    with pytest.raises(ValueError, match='class lists'):
        gen.multi_scale_batch(model, inputs[:2], [torch.tensor([1])])
    with pytest.raises(ValueError, match='one per class'):
        advcam_climb(model, inputs[:2], torch.tensor([0, 1, 2]), 1)


def test_advcam_has_the_multi_scale_cam_format():
    """Same fields, shapes, dtypes and normalisation as MultiScaleCAM, under
    the test loop's no_grad, the model's mode and parameters untouched;
    SeedMetric takes the samples."""
    model = build_classifier().train()
    shapes, labels = [(40, 48), (33, 41)], [[3, 1], [2]]
    inputs = torch.randn(2, 3, 40, 48,
                         generator=torch.Generator().manual_seed(4))
    opts = dict(scales=(1.0, 0.5), flip=True)
    with torch.no_grad():
        adv = AdvCAM(adv_iter=2, scale_iters=(3, 2), **opts)(
            model, inputs, _samples(shapes, labels))
        model.eval()
        ref = MultiScaleCAM(**opts)(model, inputs, _samples(shapes, labels))
    model.train()
    assert all(p.grad is None for p in model.parameters())
    for a, r, (h, w) in zip(adv, ref, shapes):
        assert set(a.keys()) == set(r.keys())
        assert set(a.metainfo_keys()) == set(r.metainfo_keys())
        assert a.cam_keys.dtype == r.cam_keys.dtype == torch.int64
        assert a.cam_keys.tolist() == r.cam_keys.tolist()
        assert a.cam_from_file is False and r.cam_from_file is False
        for key, size in (('cam', (math.ceil(h / 4), math.ceil(w / 4))),
                          ('high_res_cam', (h, w))):
            t = a.get(key)
            assert t.shape == r.get(key).shape == (len(a.cam_keys), ) + size
            assert t.dtype == torch.float32 and t.device.type == 'cpu'
            peak = t.flatten(1).max(1).values
            assert torch.all(peak <= 1) and torch.all(peak > 0.99)
        # AdvCAM spreads from the CAM, it is not the CAM
        assert not torch.allclose(a.high_res_cam, r.high_res_cam, atol=1e-3)
    # a sample that carries its CAMs (read back from its file) is kept
    again = AdvCAM(adv_iter=1, **opts)(model, inputs[:1], adv[:1])
    assert again[0].cam_from_file is True
    assert model.training
    metric = SeedMetric(num_classes=NUM_CLASSES, save_curve=False)
    metric.process(None, [s.to_dict() for s in adv])
    result = metric.compute_metrics(metric.results)
    assert 0 <= result['mIoU'] <= 100


# --------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------
PUBLISHED = dict(type='AdvCAM', adv_iter=27, ad_coeff=7.0, ad_stepsize=0.08,
                 score_th=0.5, scale_iters=(27, 13, 27, 27))


@pytest.mark.parametrize('name,base', [
    ('advcam_r50_voc.py', 'cam_r50_voc.py'),
    ('advcam_r18_gen.py', 'cam_r18_gen.py'),
])
def test_configs_are_the_published_test_mode(name, base):
    cfg = Config.fromfile(find_config(name))
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    test_cfg = cfg.model.test_cfg
    generator = test_cfg.cam_generator
    for key, value in PUBLISHED.items():
        got = generator[key]
        assert (tuple(got) if isinstance(got, (list, tuple)) else got) == \
            value, key
    assert generator.get('scale_weights') is None  # what the reference ran
    # AdvCAM is selected by type: the mode, scales and flips are the CAM
    # config's
    base_cfg = Config.fromfile(find_config(base))
    base_cfg.merge_from_dict({'model.backbone.init_cfg': None})
    assert test_cfg.mode == 'cam' and 'mode' not in generator
    assert {k: v for k, v in test_cfg.items() if k != 'cam_generator'} == \
        base_cfg.model.test_cfg
    assert tuple(test_cfg.scales) == (1.0, 0.5, 1.5, 2.0) and test_cfg.flip
    # the classifier and the data are the CAM config's
    assert cfg.model.backbone == base_cfg.model.backbone
    assert cfg.model.head == base_cfg.model.head
    # the data are the CAM config's; the generated data's small images
    # climb 8 to a batch (the maps do not depend on it)
    batch = dict(cfg.test_dataloader, batch_size=1)
    assert batch == base_cfg.test_dataloader
    assert cfg.test_dataloader.batch_size == (8 if 'gen' in name else 1)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    adv = model.cam_generator
    assert type(adv) is AdvCAM
    assert (adv.scales, adv.flip) == ((1.0, 0.5, 1.5, 2.0), True)
    assert adv.iters == [27, 13, 27, 27] and adv.weights == [1.0] * 4
    assert (adv.ad_coeff, adv.ad_stepsize, adv.score_th,
            adv.class_chunk) == (7.0, 0.08, 0.5, None)
    if name.endswith('gen.py'):  # predict() runs AdvCAM
        cfg.merge_from_dict({
            'model.test_cfg.scales': (1.0, ),
            'model.test_cfg.cam_generator.adv_iter': 2,
            'model.test_cfg.cam_generator.scale_iters': None})
        model = MODELS.build(cfg.model).eval()
        shapes = [(32, 32)]
        x = torch.randn(1, 3, 32, 32,
                        generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            out = model.predict(x, _samples(shapes, [[5]]))
            ref = AdvCAM(scales=(1.0, ), adv_iter=2)(
                model, x, _samples(shapes, [[5]]))
        assert out[0].high_res_cam.shape == (1, 32, 32)
        assert torch.equal(out[0].high_res_cam, ref[0].high_res_cam)
