"""CausalCAMHead: losses against hand computations, buffers, predictions."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmc2am.models import CausalCAMHead

C, K, S = 5, 8, 16  # classes, feature channels, global CAM side


def _samples(target: torch.Tensor):
    return [DataSample().set_gt_label(torch.nonzero(t).flatten()) for t in target]


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(3, K, 6, 7, generator=g)
    target = (torch.rand(3, C, generator=g) > 0.5).float()
    target[:, 0] = 1  # every sample has a class
    global_cam = torch.rand(C, S, S, generator=g)
    return feats, target, global_cam


def _head(adjustment=None, global_cam=None):
    torch.manual_seed(0)
    head = CausalCAMHead(
        num_classes=C, in_channels=K, adjustment=adjustment,
        global_cam_size=S)
    head.init_weights()
    if global_cam is not None:
        head.set_global_cam(global_cam)
    return head


def test_plain_loss_is_multilabel_soft_margin(data):
    feats, target, _ = data
    head = _head()
    loss = head.loss((feats, ), _samples(target))['loss']
    z = head.conv(feats.mean(dim=(2, 3), keepdim=True)).flatten(1)
    expected = F.multilabel_soft_margin_loss(z, target)
    assert torch.allclose(loss, expected, atol=1e-6)
    # gt_score (what ClsDataPreprocessor(to_onehot=True) sets) gives the same
    scored = [DataSample().set_gt_score(t) for t in target]
    assert torch.allclose(head.loss((feats, ), scored)['loss'], expected,
                          atol=1e-6)


def test_front_door_loss_matches_hand_computation(data):
    feats, target, global_cam = data
    head = _head('front_door', global_cam)
    loss = head.loss((feats, ), _samples(target))['loss']
    z = head.conv(feats.mean(dim=(2, 3), keepdim=True)).flatten(1)  # (B, C)
    # the per-class-scale form ...
    scale = global_cam.mean(dim=(1, 2))
    expected = F.binary_cross_entropy_with_logits(z * scale, target)
    assert torch.allclose(loss, expected, atol=1e-6)
    # ... and the reference's literal form
    ref = (z[:, :, None, None] * global_cam).mean(dim=(2, 3))
    ref_loss = F.binary_cross_entropy_with_logits(ref, target)
    assert torch.allclose(loss, ref_loss, atol=1e-6)


def test_spatial_loss_matches_formula(data):
    feats, target, global_cam = data
    head = _head('front_door_spatial', global_cam)
    loss = head.loss((feats, ), _samples(target))['loss']
    m = torch.einsum('bkhw,ck->bchw', feats, head.conv.weight[:, :, 0, 0])
    g = F.interpolate(global_cam[None], size=feats.shape[-2:],
                      mode='bilinear', align_corners=False)[0]
    scores = (m * g).sum(dim=(2, 3)) / g.sum(dim=(1, 2))
    expected = F.binary_cross_entropy_with_logits(scores, target)
    assert torch.allclose(loss, expected, atol=1e-6)
    assert torch.allclose(head.adjusted_scores((feats, )), scores, atol=1e-5)


def test_constant_global_cam_spatial_equals_gap_logit(data):
    feats, _, _ = data
    head = _head('front_door_spatial', torch.full((C, S, S), 0.37))
    assert torch.allclose(
        head.adjusted_scores((feats, )), head((feats, )), atol=1e-5)


def test_spatial_absent_class_falls_back_to_gap(data):
    feats, _, global_cam = data
    global_cam[2] = 0
    head = _head('front_door_spatial', global_cam)
    scores = head.adjusted_scores((feats, ))
    assert torch.isfinite(scores).all()
    assert torch.allclose(scores[:, 2], head((feats, ))[:, 2], atol=1e-5)


@pytest.mark.parametrize('adjustment', ['front_door', 'front_door_spatial'])
def test_adjustment_without_global_cam_is_an_error(data, adjustment):
    feats, target, _ = data
    head = _head(adjustment)
    with pytest.raises(RuntimeError, match='global CAM'):
        head.loss((feats, ), _samples(target))


def test_buffer_saved_and_restored(data):
    _, _, global_cam = data
    head = _head('front_door', global_cam)
    state = head.state_dict()
    assert set(state) == {'conv.weight', 'global_cam', 'global_cam_set'}
    fresh = _head('front_door')
    assert not fresh.has_global_cam
    fresh.load_state_dict(state)
    assert fresh.has_global_cam
    assert torch.equal(fresh.global_cam, global_cam)


def test_set_global_cam_checks_and_resizes():
    head = _head()
    with pytest.raises(ValueError, match='global CAM must be'):
        head.set_global_cam(torch.zeros(C + 1, S, S))
    with pytest.raises(ValueError, match='NaN'):
        head.set_global_cam(torch.full((C, S, S), float('nan')))
    head.set_global_cam(torch.ones(C, 4, 4).numpy())  # resized to S x S
    assert head.global_cam.shape == (C, S, S)
    assert torch.allclose(head.global_cam, torch.ones(C, S, S))


def test_cam_and_predict(data):
    feats, target, global_cam = data
    head = _head()
    cam = head.cam((feats, ))
    assert cam.shape == (3, C, 6, 7) and (cam >= 0).all()
    assert torch.allclose(cam, F.relu(head.conv(feats)))
    preds = head.predict((feats, ), _samples(target))
    z = head((feats, ))
    for p, zi in zip(preds, z):
        assert torch.allclose(p.pred_score, torch.sigmoid(zi))
    # the adjusted head predicts the plain scores by default ...
    adj = _head('front_door', global_cam)
    preds = adj.predict((feats, ))
    assert torch.allclose(torch.stack([p.pred_score for p in preds]),
                          torch.sigmoid(adj((feats, ))), atol=1e-6)
    # ... and its adjusted scores with predict_adjusted=True
    adj.predict_adjusted = True
    preds = adj.predict((feats, ))
    expected = torch.sigmoid(adj((feats, )) * global_cam.mean(dim=(1, 2)))
    assert torch.allclose(torch.stack([p.pred_score for p in preds]),
                          expected, atol=1e-6)


def test_pooled_features_are_accepted(data):
    feats, target, _ = data
    head = _head()
    pooled = feats.mean(dim=(2, 3))  # what a GlobalAveragePooling neck gives
    assert torch.allclose(head((pooled, )), head((feats, )), atol=1e-5)


def test_bad_adjustment():
    with pytest.raises(ValueError, match='adjustment'):
        CausalCAMHead(num_classes=C, in_channels=K, adjustment='backdoor')


def test_global_cam_flag_follows_state_dict_loads():
    """The host-cached flag (no device sync per step) tracks loads both ways."""
    done = CausalCAMHead(num_classes=3, in_channels=4, global_cam_size=4)
    done.set_global_cam(torch.rand(3, 4, 4))
    fresh = CausalCAMHead(num_classes=3, in_channels=4, global_cam_size=4)
    assert not fresh.has_global_cam
    fresh.load_state_dict(done.state_dict())
    assert fresh.has_global_cam
    assert torch.equal(fresh.global_cam, done.global_cam)
    done.load_state_dict(
        CausalCAMHead(num_classes=3, in_channels=4,
                      global_cam_size=4).state_dict())
    assert not done.has_global_cam


# ---------------------------------------------------------------------- #
# 'front_door_context' (issue 17)
# ---------------------------------------------------------------------- #
def _context_head(num_classes=4, in_channels=5, seed=0):
    torch.manual_seed(seed)
    head = CausalCAMHead(num_classes=num_classes, in_channels=in_channels,
                         adjustment='front_door_context')
    head.init_weights()
    return head


@pytest.fixture
def context_data():
    """B=3, C=4, K=5, 3x4 maps; labels: {0, 2}, {1}, {0, 1, 3}."""
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 5, 3, 4, generator=g)
    target = torch.tensor([[1., 0., 1., 0.], [0., 1., 0., 0.],
                           [1., 1., 0., 1.]])
    return feats, target


def _context_by_loops(f, W, target, xbar_override=None):
    """s_ic = W_c . (g_ic + (1 - alpha_ic) xbar), loops over b, c, pixels."""
    B, K, h, w = f.shape
    C = W.shape[0]
    pixels = [(y, x) for y in range(h) for x in range(w)]
    P = len(pixels)
    a = torch.zeros(B, C, h, w)
    for i in range(B):
        for c in range(C):
            r = torch.zeros(h, w)
            for (y, x) in pixels:
                r[y, x] = max(float(W[c] @ f[i, :, y, x]), 0.0)
            a[i, c] = r / (float(r.max()) + 1e-5)
    xbars = []
    for j in range(B):
        num, den = torch.zeros(K), 0.0
        for (y, x) in pixels:
            claimed = [float(a[j, c, y, x]) for c in range(C) if target[j, c]]
            u = 1.0 - max(claimed, default=0.0)
            num = num + u * f[j, :, y, x]
            den += u
        xbars.append(num / (den + 1e-5))
    xbar = sum(xbars) / B
    s = torch.zeros(B, C)
    for i in range(B):
        for c in range(C):
            g = sum(float(a[i, c, y, x]) * f[i, :, y, x]
                    for (y, x) in pixels) / P
            alpha = float(a[i, c].sum()) / P
            ctx = xbars[i] if xbar_override == 'own' else xbar
            s[i, c] = W[c] @ (g + (1 - alpha) * ctx)
    return s


def test_context_scores_match_loops(context_data):
    feats, target = context_data
    head = _context_head()
    W = head.conv.weight[:, :, 0, 0].detach()
    scores = head.adjusted_scores((feats, ), target)
    expected = _context_by_loops(feats, W, target)
    assert scores.shape == (3, 4)
    assert torch.allclose(scores, expected, atol=1e-5)
    # the loss is the multi-label loss on these scores, with no global CAM
    assert not head.has_global_cam
    loss = head.loss((feats, ), _samples(target))['loss']
    assert torch.allclose(
        loss, F.multilabel_soft_margin_loss(expected, target), atol=1e-6)
    # the scores differ from the plain logits (the adjustment acts)
    assert not torch.allclose(scores, head((feats, )), atol=1e-3)


def test_context_batch_of_one_is_own_context(context_data):
    feats, _ = context_data
    head = _context_head()
    W = head.conv.weight[:, :, 0, 0].detach()
    f1 = feats[1:2]
    target = torch.tensor([[0., 0., 1., 0.]])  # a single labelled class
    scores = head.adjusted_scores((f1, ), target)
    expected = _context_by_loops(f1, W, target, xbar_override='own')
    assert torch.allclose(scores, expected, atol=1e-5)
    # by hand for c = 2: W_c . (g_ic + (1 - alpha_ic) xbar_i), u = 1 - a_ic
    m = torch.einsum('ck,bkhw->bchw', W, f1)
    a = F.relu(m[0, 2]) / (F.relu(m[0, 2]).max() + 1e-5)
    g = (a * f1[0]).mean(dim=(1, 2))
    alpha = a.mean()
    u = 1 - a
    xbar_i = (u * f1[0]).sum(dim=(1, 2)) / (u.sum() + 1e-5)
    assert torch.allclose(scores[0, 2], W[2] @ (g + (1 - alpha) * xbar_i),
                          atol=1e-5)
    # ... which is the plain logit of that class (u = 1 - a_ic, soft a)
    assert torch.allclose(scores[0, 2], head((f1, ))[0, 2], atol=1e-4)


def test_context_identities():
    torch.manual_seed(3)
    head = _context_head()
    W = head.conv.weight[:, :, 0, 0].detach()
    f = torch.randn(3, 5, 3, 4)
    m = head.conv(f).detach()
    target = torch.tensor([[1., 0., 1., 0.], [0., 1., 0., 0.],
                           [0., 0., 0., 0.]])
    plain = torch.einsum('ck,bk->bc', W, f.mean(dim=(2, 3)))
    # a all ones (alpha = 1): the plain logit, whatever the context
    ones = torch.ones_like(m)
    assert torch.allclose(head.context_scores(m, ones, target), plain,
                          atol=1e-5)
    # batch of one, one labelled class, binary or soft map: region + own
    # context rebuild GAP(f), i.e. the plain logit (up to the 1e-5)
    mask = (torch.rand(1, 1, 3, 4) > 0.5).float()
    mask[..., 0, 0], mask[..., 0, 1] = 1, 0
    soft = torch.rand(1, 1, 3, 4) * 0.9
    one = torch.tensor([[0., 1., 0., 0.]])
    for a in (mask, soft):
        s = head.context_scores(m[:1], a.expand(1, 4, 3, 4), one)
        assert torch.allclose(s[0, 1], plain[0, 1], atol=1e-4)


def test_context_gradient_skips_the_cams(context_data):
    feats, target = context_data
    head = _context_head()
    f = feats.clone().requires_grad_(True)
    weights = torch.randn(3, 4, generator=torch.Generator().manual_seed(2))
    (head.adjusted_scores((f, ), target) * weights).sum().backward()
    grad_f, grad_W = f.grad.clone(), head.conv.weight.grad.clone()

    # the same formula with a as a constant tensor, W as a leaf
    W = head.conv.weight[:, :, 0, 0].detach().clone().requires_grad_(True)
    f2 = feats.clone().requires_grad_(True)
    with torch.no_grad():
        r = F.relu(torch.einsum('ck,bkhw->bchw', W, f2))
        a = r / (r.amax(dim=(2, 3), keepdim=True) + 1e-5)
    u = 1 - (a * target[:, :, None, None]).amax(dim=1, keepdim=True)
    g = torch.einsum('bchw,bkhw->bck', a, f2) / 12
    alpha = a.mean(dim=(2, 3))
    xbar = ((u * f2).sum(dim=(2, 3)) / (u.sum(dim=(2, 3)) + 1e-5)).mean(0)
    s = torch.einsum('ck,bck->bc', W, g + (1 - alpha)[..., None] * xbar)
    (s * weights).sum().backward()
    assert torch.allclose(grad_f, f2.grad, atol=1e-5)
    assert torch.allclose(grad_W[:, :, 0, 0], W.grad, atol=1e-5)
    assert grad_W.abs().sum() > 0 and grad_f.abs().sum() > 0

    # control: with a differentiated the gradient would differ
    f3 = feats.clone().requires_grad_(True)
    m = head.conv(f3)
    r = F.relu(m)
    a_live = r / (r.amax(dim=(2, 3), keepdim=True) + 1e-5)
    (head.context_scores(m, a_live, target) * weights).sum().backward()
    assert not torch.allclose(f3.grad, grad_f, atol=1e-4)


def test_context_needs_labels_not_global_cam(context_data):
    feats, target = context_data
    head = _context_head()
    with pytest.raises(ValueError, match='labels'):
        head.adjusted_scores((feats, ))
    # gt_score samples (one-hot preprocessor) give the same loss as gt_label
    scored = [DataSample().set_gt_score(t) for t in target]
    assert torch.allclose(head.loss((feats, ), scored)['loss'],
                          head.loss((feats, ), _samples(target))['loss'])
    # predictions and CAMs stay the plain ones
    preds = head.predict((feats, ))
    assert torch.allclose(torch.stack([p.pred_score for p in preds]),
                          torch.sigmoid(head((feats, ))), atol=1e-6)
    assert torch.allclose(head.cam((feats, )), F.relu(head.conv(feats)))
    with pytest.raises(ValueError, match='predict_adjusted'):
        CausalCAMHead(num_classes=4, in_channels=5,
                      adjustment='front_door_context', predict_adjusted=True)


@pytest.mark.parametrize('name,adjustment', [
    ('c2am_r18_gen_context.py', 'front_door_context'),
    ('cam_r18_gen_ft.py', None),
])
def test_context_and_control_configs_build(name, adjustment):

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from mmc2am.utils import find_config

    cfg = Config.fromfile(find_config(name))
    base = Config.fromfile(find_config('c2am_r18_gen.py'))
    assert cfg.get('custom_hooks', []) == []  # no GlobalCAMHook
    assert tuple(cfg.model.test_cfg.scales) == tuple(
        base.model.test_cfg.scales)
    assert cfg.load_from == base.load_from
    assert cfg.optim_wrapper == base.optim_wrapper
    assert cfg.train_cfg == base.train_cfg
    assert cfg.param_scheduler == base.param_scheduler
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert model.head.adjustment == adjustment
    # a training loss without any global CAM
    feats = (torch.randn(2, model.head.in_channels, 2, 2), )
    target = torch.tensor([[1.] + [0.] * (model.head.num_classes - 1),
                           [0., 1.] + [0.] * (model.head.num_classes - 2)])
    loss = model.head.loss(feats, _samples(target))['loss']
    assert torch.isfinite(loss)
