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
