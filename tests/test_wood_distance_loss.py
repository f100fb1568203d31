"""W-OoD's distance loss and hardening step (issue 26) against hand
computations."""
import math

import pytest
import torch

from mmc2am.models.losses import WOoDDistanceLoss, harden_ood
from mmc2am.models.losses.wood_distance_loss import (
    class_centres,
    kmeans,
    wood_distance_loss,
)
from mmc2am.registry import MODELS

# one torch thread (tests/conftest.py: the 2 CI cores are shared)
pytestmark = pytest.mark.usefixtures('one_thread')

FEATS = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
LABELS = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
CENTRES = torch.tensor([[0.0, 4.0], [0.0, 0.0]])
OOD = torch.tensor([[1.0, 0.0], [0.0, 2.0], [6.0, 8.0]])


def test_loss_by_hand():
    # class term: f1 = (0, 0) to its class 0's centre (0, 4): 4; f2 = (3, 4)
    #   to class 1's centre (0, 0) ... is all zeros: a missing class, 0.
    #   mean over the 2 x 2 entries [[4, 0], [0, 0]] = 1, times C/K = 2/3
    # OoD distances: f1: 1, 2, 10; f2: sqrt(20) = 4.472, sqrt(13) = 3.606, 5
    #   topk 0.2: k = int(6 * 0.8) = 4 largest: 10, 5, 4.472, 3.606 -> t =
    #   3.606; e < t: 1 and 2, mean over 6 = 3 / 6 = 0.5
    loss = wood_distance_loss(FEATS, LABELS, CENTRES, OOD, 0.2)
    assert loss.item() == pytest.approx(2 / 3 - 0.5)
    # a non-zero centre for class 1, (0, 1): f2 at sqrt(9 + 9) = 4.243
    #   class term (4 + 4.243) / 4 * 2 / 3 = 1.3738
    centres = torch.tensor([[0.0, 4.0], [0.0, 1.0]])
    loss = wood_distance_loss(FEATS, LABELS, centres, OOD, 0.2)
    assert loss.item() == pytest.approx((4 + math.sqrt(18)) / 6 - 0.5)
    # topk 0.5: k = 3, t = 4.472: 1, 2 and 3.606 pushed: (3 + sqrt 13) / 6
    loss = wood_distance_loss(FEATS, LABELS, centres, OOD, 0.5)
    assert loss.item() == pytest.approx(
        (4 + math.sqrt(18)) / 6 - (3 + math.sqrt(13)) / 6)
    # topk 1: k = 0, no threshold: every distance pushed, (18 + ...) / 6
    loss = wood_distance_loss(FEATS, LABELS, centres, OOD, 1.0)
    assert loss.item() == pytest.approx(
        (4 + math.sqrt(18)) / 6 -
        (1 + 2 + 10 + math.sqrt(20) + math.sqrt(13) + 5) / 6)


def test_gradient_pulls_to_the_class_and_pushes_from_near_ood():
    centres = torch.tensor([[0.0, 4.0], [0.0, 1.0]])
    f = FEATS.clone().requires_grad_(True)
    wood_distance_loss(f, LABELS, centres, OOD, 0.2).backward()
    # f1's gradient: pull to (0, 4) (class term, weight 1/6 per unit
    # vector) and push from (1, 0) and (0, 2) (weight 1/6 each):
    # d/df1 = (f1 - mu0)/4 /6 - [(f1 - nu1)/1 + (f1 - nu2)/2] /6
    #       = ((0, -1) - (-1, 0) - (0, -1)) / 6 = (1/6, 0)
    torch.testing.assert_close(f.grad[0], torch.tensor([1 / 6, 0.0]))
    # the class term alone (topk 0: the threshold is the smallest distance,
    # nothing pushed): a descent step moves each feature nearer its centre
    f = FEATS.clone().requires_grad_(True)
    wood_distance_loss(f, LABELS, centres, OOD, 0.0).backward()
    torch.testing.assert_close(f.grad[0], torch.tensor([0.0, -1 / 6]))
    step = f.detach() - 0.1 * f.grad
    assert (step[0] - centres[0]).norm() < (FEATS[0] - centres[0]).norm()
    assert (step[1] - centres[1]).norm() < (FEATS[1] - centres[1]).norm()
    # ... and, without labels, only away from the nearest OoD centres
    f = FEATS.clone().requires_grad_(True)
    wood_distance_loss(f, torch.zeros(2, 2), centres, OOD, 0.2).backward()
    step = f.detach() - 0.1 * f.grad
    assert (step[0] - OOD[0]).norm() > 1 and (step[0] - OOD[1]).norm() > 2
    assert f.grad[1].abs().sum() == 0  # f2 is near none of them


def test_module_and_centres():
    loss = MODELS.build(dict(type='WOoDDistanceLoss', loss_weight=0.5))
    assert isinstance(loss, WOoDDistanceLoss)
    with pytest.raises(RuntimeError, match='set_centres'):
        loss(FEATS, LABELS)
    loss.set_centres(CENTRES, OOD)
    assert loss(FEATS, LABELS).item() == pytest.approx(0.5 * (2 / 3 - 0.5))
    assert 'class_centres' not in loss.state_dict()
    # the class centres: image means per class, an image in each of its
    # classes, zeros for a class without image
    feats = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    labels = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0]])
    torch.testing.assert_close(
        class_centres(feats, labels),
        torch.tensor([[2.0, 1.0], [4.0, 3.0], [0.0, 0.0]]))
    # k-means from the first k points: two separated blobs, their means
    x = torch.tensor([[0.0, 0.0], [0.2, 0.0], [10.0, 10.0], [10.4, 10.0],
                      [0.1, 0.3]])
    torch.testing.assert_close(
        kmeans(x, 2), torch.tensor([[0.1, 0.1], [10.2, 10.0]]))
    with pytest.raises(ValueError, match='2 points for 3'):
        kmeans(x[:2], 3)


def test_hardening_step_on_a_linear_model():
    W = torch.tensor([[1.0, -2.0], [3.0, 0.5]])

    def model_fn(x):
        return x @ W.t()

    x = torch.tensor([[0.0, 1.0], [0.5, -1.0]])
    # logits: image 0: (-2, 0.5), max class 1, gradient W[1] = (3, 0.5);
    # image 1: (2.5, 1), max class 0, gradient W[0] = (1, -2);
    # max |g| = 3, xi 0.3: x + 0.1 g = (0.3, 1.05), (0.6, -1.2), clamped
    # to the batch's [min, max] = [-1, 1]
    out = harden_ood(model_fn, x, xi=0.3)
    torch.testing.assert_close(out, torch.tensor([[0.3, 1.0], [0.6, -1.0]]))
    assert not out.requires_grad and x.grad is None
    # towards a given class: g = W[0] twice, max |g| = 2, step 0.15 g
    out = harden_ood(model_fn, x, target=torch.tensor([0, 0]), xi=0.3)
    torch.testing.assert_close(
        out, torch.tensor([[0.15, 0.7], [0.65, -1.0]]))
    # the hardened images score higher on their top class
    hard = harden_ood(model_fn, x, xi=0.01)
    assert (model_fn(hard).max(1).values > model_fn(x).max(1).values).all()
