"""BaseCAMHead: plain-CAM numbers by hand, the loss / predict override
points, the host-cached buffer flags, the argument checks."""
import math

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.models import BaseCAMHead

# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')

# W (C=2, K=3): class 0 = ch0 - ch2, class 1 = (ch0 + ch1) / 2
W = torch.tensor([[1., 0., -1.], [0.5, 0.5, 0.]])
# (B=2, K=3, 2, 2); channel means: image 0 (4, 1, 2), image 1 (0, -2, 1)
FEATS = torch.tensor([
    [[[1., 3.], [5., 7.]], [[0., 0.], [0., 4.]], [[2., 2.], [2., 2.]]],
    [[[0., 0.], [0., 0.]], [[-2., -2.], [-2., -2.]], [[1., -1.], [1., 3.]]],
])
LOGITS = torch.tensor([[2., 2.5], [-1., -1.]])  # W . GAP(f), by hand
LABELS = [[0], [1]]


def _head(cls=BaseCAMHead, **kwargs):
    head = cls(num_classes=2, in_channels=3, **kwargs)
    with torch.no_grad():
        head.conv.weight.copy_(W[:, :, None, None])
    return head


def _samples():
    return [DataSample().set_gt_label(torch.tensor(lb)) for lb in LABELS]


def _soft_margin(logits, labels):
    """Mean over B x C of -log sigmoid(+-z), written out."""
    total = 0.0
    for b, row in enumerate(logits.tolist()):
        for c, z in enumerate(row):
            sign = 1.0 if c in labels[b] else -1.0
            total += math.log1p(math.exp(-sign * z))
    return total / logits.numel()


def test_registered_plain_cam_head_numbers():
    head = MODELS.build(dict(type='mmc2am.BaseCAMHead', num_classes=2,
                             in_channels=3))
    assert type(head) is BaseCAMHead
    assert set(head.state_dict()) == {'conv.weight'}
    head = _head()
    torch.testing.assert_close(head((FEATS, )), LOGITS)
    # pooled (B, K) features, as a GlobalAveragePooling neck gives
    torch.testing.assert_close(head(FEATS.mean(dim=(2, 3))), LOGITS)
    loss = head.loss((FEATS, ), _samples())['loss']
    assert loss.item() == pytest.approx(_soft_margin(LOGITS, LABELS),
                                        rel=1e-6)
    # gt_score samples (ClsDataPreprocessor(to_onehot=True)) give the same
    scored = [DataSample().set_gt_score(torch.tensor(t))
              for t in ([1., 0.], [0., 1.])]
    assert head.loss((FEATS, ), scored)['loss'].item() == pytest.approx(
        loss.item(), rel=1e-6)


def test_cam_and_predict():
    head = _head()
    cam = head.cam((FEATS, ))
    assert cam.shape == (2, 2, 2, 2)
    torch.testing.assert_close(cam[0, 0], torch.tensor([[0., 1.], [3., 5.]]))
    torch.testing.assert_close(cam[0, 1],
                               torch.tensor([[0.5, 1.5], [2.5, 5.5]]))
    torch.testing.assert_close(cam[1, 1], torch.zeros(2, 2))  # all < 0
    preds = head.predict((FEATS, ))
    torch.testing.assert_close(preds[0].pred_score, torch.sigmoid(LOGITS[0]))
    assert preds[0].pred_label.tolist() == [0, 1]  # thr 0.5
    assert preds[1].pred_label.tolist() == []


class _Doubled(BaseCAMHead):
    """Loss on 2 z; predictions stay sigmoid(z)."""

    def adjusted_scores(self, feats, target=None):
        assert target is not None  # the loss hands the labels over
        return 2 * self(feats)


class _Halved(BaseCAMHead):
    """Predictions of z / 2; the loss stays on z."""

    def predict_scores(self, feats):
        return self(feats) / 2


def test_scoring_override_points():
    doubled, halved = _head(_Doubled), _head(_Halved)
    assert doubled.loss((FEATS, ), _samples())['loss'].item() == \
        pytest.approx(_soft_margin(2 * LOGITS, LABELS), rel=1e-6)
    torch.testing.assert_close(doubled.predict((FEATS, ))[1].pred_score,
                               torch.sigmoid(LOGITS[1]))
    assert halved.loss((FEATS, ), _samples())['loss'].item() == \
        pytest.approx(_soft_margin(LOGITS, LABELS), rel=1e-6)
    torch.testing.assert_close(halved.predict((FEATS, ))[0].pred_score,
                               torch.sigmoid(LOGITS[0] / 2))


class _Buffered(BaseCAMHead):
    """A head with a (2, 3) table a hook fills, and its flag."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.register_buffer('table', torch.zeros(2, 3))
        self.register_flag('table_set')


def test_flag_buffers_follow_fills_and_loads():
    done, fresh = _head(_Buffered), _head(_Buffered)
    assert not fresh.flag_is_set('table_set')
    table = torch.arange(6.).view(2, 3)
    done.fill_buffers('table_set', table=table)
    assert done.flag_is_set('table_set')
    assert torch.equal(done.table, table)
    state = done.state_dict()
    assert set(state) == {'conv.weight', 'table', 'table_set'}
    assert bool(state['table_set'])
    fresh.load_state_dict(state)
    assert fresh.flag_is_set('table_set')
    assert torch.equal(fresh.table, table)
    # once True it is answered on the host, without reading the buffer
    fresh.table_set.fill_(False)
    assert fresh.flag_is_set('table_set')
    # a load re-reads it
    fresh.load_state_dict(_head(_Buffered).state_dict())
    assert not fresh.flag_is_set('table_set')


def test_checked_tensor():
    got = BaseCAMHead.checked_tensor(np.ones((2, 4, 5)), 'map', (2, 'H', 'W'))
    assert got.dtype == torch.float32 and got.shape == (2, 4, 5)
    with pytest.raises(ValueError, match=r'map must be \(2, H, W\), got '
                                         r'\(3, 4, 5\)'):
        BaseCAMHead.checked_tensor(torch.ones(3, 4, 5), 'map', (2, 'H', 'W'))
    with pytest.raises(ValueError, match=r'must be \(2, 3\)'):
        BaseCAMHead.checked_tensor(torch.ones(2, 3, 1), 'set', (2, 3))
    with pytest.raises(ValueError, match='set holds NaN'):
        BaseCAMHead.checked_tensor(torch.full((2, 3), float('inf')), 'set',
                                   (2, 3))


def test_argument_checks():
    with pytest.raises(ValueError, match='num_classes and in_channels'):
        BaseCAMHead(num_classes=0, in_channels=3)
    with pytest.raises(ValueError, match='in_channels'):
        BaseCAMHead(num_classes=2, in_channels=-1)
    with pytest.raises(ValueError, match=r"mode must be one of \('a', 'b'\), "
                                         r"got 'c'"):
        BaseCAMHead.check_choice('mode', 'c', ('a', 'b'))
    BaseCAMHead.check_choice('mode', None, (None, 'a'))  # no error
