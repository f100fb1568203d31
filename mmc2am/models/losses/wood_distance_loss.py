"""W-OoD's feature-distance loss and hardening step (Lee et al., CVPR 2022).

W-OoD ("Weakly supervised semantic segmentation using out-of-distribution
data", public code ``naver-ai/w-ood``, commit 0cb2f77) trains the CAM
classifier with images that show no class (its OoD set; here: the erase
negatives, context-only images) in two ways:

- each OoD batch is first *hardened* by one anti-adversarial step that
  raises its highest class score (:func:`harden_ood`), then trained with an
  all-zero multi-label target (the ordinary classification loss with an
  empty label, nothing new);
- a distance loss on the in-distribution batch's image features
  (:class:`WOoDDistanceLoss`): pull each image's GAP feature towards the
  centres of its classes, push it away from the OoD cluster centres it is
  nearest to.

The centres are computed once, with the start model, before training
(``step/train_cam_clustering.py`` line 330, ``get_sample_estimator``): the
class centres are the means of the GAP features of the training images
showing each class (an image counts for every class it shows, lines
104-113, 138-144; :func:`class_centres`), the OoD centres the k-means
centres of the OoD images' GAP features (line 116, Lloyd's algorithm of
``step/train_utils.py`` lines 57-83; :func:`kmeans`). The features are the
GAP of the backbone's last stage (``net/resnet50_cam.py`` ``feature_list``,
``out_list[2]``).

Not taken from the reference (issue 26): its checkpoint choice by seed mIoU
on ground-truth masks (``sub_cam_eval``, lines 376-385 and 457-460) and its exclusion of
class index 4 from the OoD loss (line 426).
"""
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from mmc2am.registry import MODELS

__all__ = [
    'WOoDDistanceLoss', 'class_centres', 'harden_ood', 'kmeans',
    'wood_distance_loss'
]


def wood_distance_loss(feats: Tensor,
                       labels: Tensor,
                       class_centres: Tensor,
                       ood_centres: Tensor,
                       ood_dist_topk: float = 0.2) -> Tensor:
    """W-OoD's distance loss ``loss_M`` (``step/train_cam_clustering.py``
    lines 388-398, ``euclidean=True``).

    With ``d_c = ||f - mu_c||`` (Euclidean, line 196 then the ``sqrt`` of
    line 389) to the C class centres and ``e_k = ||f - nu_k||`` to the K OoD
    centres, per image ``f`` of the batch::

        fg    = d * y                                  (B, C), line 390
        t     = the int(n * (1 - ood_dist_topk))-th largest of the
                n non-zero e (a constant: .item()), lines 393-396
        loss  = mean(fg) * C / K - mean(e * [e < t])   line 398

    the means over all B*C and B*K entries (zeros included), so both terms
    are sums over B*K. The first term pulls a feature towards its classes'
    centres; the second pushes it away from the OoD centres it is nearest
    to (the distances below the threshold: about the ``ood_dist_topk``
    share nearest).

    A centre that is all zeros (a class without training image or an empty
    cluster: the reference's "nope!" branch, lines 138-141) contributes
    distance 0 (lines 191-192), to either term.
    Where the reference would fail (``int(...)`` = 0: ``topk_value[-1]`` of
    an empty tensor; no non-zero distance) the threshold is +inf (every
    distance counts) or the term is 0.

    Args:
        feats (Tensor): (B, D) image features (GAP of the last stage).
        labels (Tensor): (B, C) multi-hot labels (float or bool).
        class_centres (Tensor): (C, D) class centres.
        ood_centres (Tensor): (K, D) OoD cluster centres.
        ood_dist_topk (float): The reference's ``ood_dist_topk`` (its
            default 0.2), in [0, 1].

    Returns:
        Tensor: The scalar loss (unweighted; the reference multiplies it by
        ``distance_lambda`` = 0.007).
    """
    C, K = class_centres.shape[0], ood_centres.shape[0]
    if labels.shape != (feats.shape[0], C):
        raise ValueError(f'labels of shape {tuple(labels.shape)} for '
                         f'{feats.shape[0]} features and {C} class centres')
    # vector_norm's gradient is 0 at a zero distance (sqrt's would be inf)
    d = torch.linalg.vector_norm(
        feats[:, None] - class_centres[None].to(feats), dim=-1)  # (B, C)
    d = d.masked_fill((class_centres == 0).all(1)[None].to(d.device), 0)
    fg = d * labels.to(d.dtype)
    e = torch.linalg.vector_norm(
        feats[:, None] - ood_centres[None].to(feats), dim=-1)  # (B, K)
    e = e.masked_fill((ood_centres == 0).all(1)[None].to(e.device), 0)
    nonzero = e[e != 0].detach()
    if nonzero.numel() == 0:
        near = torch.zeros_like(e)
    else:
        k = int(nonzero.numel() * (1 - ood_dist_topk))
        thresh = (torch.topk(nonzero, k).values[-1].item()
                  if k > 0 else float('inf'))
        near = (e < thresh).to(e.dtype)
    return fg.mean() * (C / K) - (e * near).mean()


def class_centres(feats: Tensor, labels: Tensor) -> Tensor:
    """Mean feature of the images of each class (reference lines 104-113,
    138-144): an image with several classes counts for each; a class
    without an image gets a zero row.

    Args:
        feats (Tensor): (N, D) features.
        labels (Tensor): (N, C) multi-hot labels.

    Returns:
        Tensor: (C, D) centres.
    """
    y = labels.to(feats.dtype)
    count = y.sum(0)
    return (y.t() @ feats) / count.clamp_min(1)[:, None]


def kmeans(x: Tensor, k: int, iters: int = 10) -> Tensor:
    """Lloyd's k-means in the Euclidean metric, as the reference's
    ``KMeans`` (``step/train_utils.py`` lines 57-83, pykeops there): the
    first ``k`` points as the initial centres, ``iters`` rounds of nearest-
    centre assignment and mean. A cluster left empty keeps its centre (the
    reference divides 0 by 0 there, and the loss then gives its zero
    centre no weight, lines 138-141 and 191-192).

    Args:
        x (Tensor): (N, D) points, N >= k.
        k (int): Number of clusters.
        iters (int): Rounds. Defaults to the reference's 10.

    Returns:
        Tensor: (k, D) centres.
    """
    if x.shape[0] < k:
        raise ValueError(f'kmeans: {x.shape[0]} points for {k} clusters')
    c = x[:k].clone()
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(dim=1)
        total = torch.zeros_like(c).index_add_(0, assign, x)
        count = torch.bincount(assign, minlength=k).to(x.dtype)
        c = torch.where(count[:, None] > 0,
                        total / count.clamp_min(1)[:, None], c)
    return c


def harden_ood(model_fn: Callable[[Tensor], Tensor],
               img: Tensor,
               target: Optional[Tensor] = None,
               xi: float = 0.07) -> Tensor:
    """One anti-adversarial step on OoD images (reference
    ``step/train_cam_clustering.py`` lines 412-421, ``adv_climb`` of
    ``step/train_utils.py`` lines 128-131)::

        s  = sum_b max_c logits(x)[b, c]        (target None: the reference)
        g  = d s / d x
        x' = clamp(x + xi * g / (max|g| + 1e-12), min(x), max(x))

    ``max|g|``, ``min(x)`` and ``max(x)`` over the whole batch (the
    reference's; not an L2 norm per image), so the step's largest
    component is ``xi``. The OoD image moves towards its most likely class,
    so the all-zero target that follows trains on its hardest version.

    It lives here, not with AdvCAM's climb (``mmc2am.cam.advcam``): that is
    a multi-step inference-time climb with a Grad-CAM restriction, this one
    step of training, used only with :class:`WOoDDistanceLoss`.

    Args:
        model_fn (Callable): Image batch -> (B, C) logits (the caller
            chooses train or eval mode; the reference hardens in train
            mode).
        img (Tensor): (B, ...) images (normalised, as the model takes them).
        target (Tensor, optional): (B,) class index per image whose logit
            is raised instead of the highest one.
        xi (float): Step size. Defaults to the reference's 0.07.

    Returns:
        Tensor: (B, ...) the hardened images, detached.
    """
    x = img.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model_fn(x)
        if target is None:
            score = logits.max(dim=1).values.sum()
        else:
            score = logits.gather(1, target.view(-1, 1).long()).sum()
        grad, = torch.autograd.grad(score, x)
    x = x.detach()
    out = x + xi * grad / (grad.abs().max() + 1e-12)
    return out.clamp(x.min(), x.max())


@MODELS.register_module()
class WOoDDistanceLoss(nn.Module):
    """W-OoD's distance loss (:func:`wood_distance_loss`) with stored centres.

    Set the centres once before training (:meth:`set_centres`, e.g. with
    :func:`class_centres` of the training images' features and
    :func:`kmeans` of the erase negatives' features, by the start model);
    they are buffers (moved with the module) but not saved in checkpoints
    (their number is known only then).

    Args:
        ood_dist_topk (float): Share of the OoD distances pushed (the
            nearest). Defaults to the reference's 0.2.
        loss_weight (float): Multiplier, the reference's
            ``distance_lambda``. Defaults to 0.007.
        loss_name (str): Name in the loss dict. Defaults to
            ``'loss_wood_dist'``.
    """

    def __init__(self,
                 ood_dist_topk: float = 0.2,
                 loss_weight: float = 0.007,
                 loss_name: str = 'loss_wood_dist') -> None:
        super().__init__()
        if not 0.0 <= float(ood_dist_topk) <= 1.0:
            raise ValueError(f'ood_dist_topk must be in [0, 1], got '
                             f'{ood_dist_topk}')
        if not loss_name.startswith('loss_'):
            raise ValueError(f'loss_name must start with loss_, got '
                             f'{loss_name!r}')
        self.ood_dist_topk = float(ood_dist_topk)
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name
        self.register_buffer('class_centres', None, persistent=False)
        self.register_buffer('ood_centres', None, persistent=False)

    @torch.no_grad()
    def set_centres(self, class_centres: Tensor, ood_centres: Tensor) -> None:
        """Store the (C, D) class and (K, D) OoD centres (detached)."""
        if class_centres.ndim != 2 or ood_centres.ndim != 2 or \
                class_centres.shape[1] != ood_centres.shape[1]:
            raise ValueError(f'centres of shapes {tuple(class_centres.shape)}'
                             f' and {tuple(ood_centres.shape)}: need (C, D) '
                             'and (K, D)')
        self.class_centres = class_centres.detach().clone()
        self.ood_centres = ood_centres.detach().clone()

    def forward(self, feats: Tensor, labels: Tensor) -> Tensor:
        """``loss_weight * wood_distance_loss(feats, labels, ...)``.

        Args:
            feats (Tensor): (B, D) image features.
            labels (Tensor): (B, C) multi-hot labels.
        """
        if self.class_centres is None or self.ood_centres is None:
            raise RuntimeError('WOoDDistanceLoss: set_centres() first')
        return self.loss_weight * wood_distance_loss(
            feats, labels, self.class_centres, self.ood_centres,
            self.ood_dist_topk)

    @property
    def loss_name(self) -> str:
        return self._loss_name
