"""RCA head: regional semantic contrast and aggregation (Zhou et al., CVPR
2022, "Regional Semantic Contrast and Aggregation for Weakly Supervised
Semantic Segmentation"; public code maeve07/RCA, ``models/rca.py`` and
``train.py``, cited below as ``rca.py:LINE`` / ``train.py:LINE``).

For the last backbone feature map ``x`` (B, K, h, w) and ``C`` classes:

- **memory** (``rca.py:93-100``): per class ``c`` a queue ``Q_c`` (L, K) of
  region embeddings (L = 500), a write pointer and ``M`` cluster centres
  ``G_c`` (M, K) (M = 10), all registered buffers (saved in checkpoints).
  The centres are the k-means centres of the queues, recomputed once per
  epoch by :class:`~mmc2am.engine.RCAMemoryHook` (``rca.py:104-110``).
- **enqueue** (``rca.py:241-243, 260-278``), after the losses of a training
  step, without gradient: for each image ``b`` and labelled class ``c``
  whose fine probability ``sigmoid(s_bc) > 0.7``, the region embedding
  ``e = sum_p m_p x_p / sum_p m_p`` with the mask
  ``m = softmax_C(coarse map)_c > mean_hw(softmax_C(coarse map)_c)`` goes
  into the slot at the pointer: ``Q_c[ptr] = 0.99 Q_c[ptr] + 0.01 e``, then
  ``ptr = (ptr + 1) mod L`` (FIFO order, momentum 0.99 on the slot).
  ``queue_init='randn'`` (the reference) starts the queues as N(0, 1) noise
  that every write blends into; ``'empty'`` starts them empty: a slot's first
  write stores ``e`` as it is, the momentum applies from its second write,
  and empty slots take part in neither the contrast nor the k-means.
- **aggregation** (``rca.py:120-135``): ``q = W_Q x`` (1x1 conv, E
  channels), over the ``C M`` centres ``G`` (detached),
  ``A = (q . W_K G) * scale`` (``attention='linear'``, the reference: no
  softmax, ``scale = 20 / 10`` there, ``/ self.cluter_num * 20``) or
  ``A = softmax_CM(q . W_K G / sqrt(E))`` (``'softmax'``), ``r = A (W_V G)``
  (E per pixel), then ``x' = W_P [x, W_A r]`` (1x1 convs ``aggre`` E -> K and
  ``concat_project`` 2K -> K).
- **heads**: per-class heads on ``x'`` (``rca.py:40-52``: for each class a
  stack of ``head_convs`` 3x3 conv + ReLU of ``head_channels`` and a 1x1
  conv to one map; here one conv over all classes' stacks, grouped by
  class after the first, the same function) give the fine map ``F``
  (B, C, h, w); a coarse head on ``x`` (``rca.py:31-39``, the same stack
  shared by the classes, its last 1x1 conv is ``self.conv``) the coarse map
  ``Fc``. Scores are spatial means: ``s = mean_hw F``, ``s^c = mean_hw Fc``.
- **loss** (``train.py:101-111``):
  ``MLSM(s, y) + 0.4 MLSM(s^c, y) + 0.01 L_con`` with ``L_con`` from
  ``contrast_start_epoch`` (2: the third epoch) on, MLSM the multi-label soft
  margin (sigmoid BCE, mean over B x C).
- **mixup InfoNCE** ``L_con`` (``rca.py:182-239``): ``u = mid_proj(x)``
  (3x3 conv, BN, ReLU, 3x3 conv, K channels, ``extra_F``); for image ``i``
  and each labelled class ``c``, ``e_ic`` = the masked mean of ``u`` under
  the coarse mask above (masks detached); a partner image ``j`` uniform over
  the batch (``randperm(B)[i]``, itself included) and a class ``c'`` uniform
  over ``j``'s labels; ``lam ~ Beta(8, 8)``;
  ``v = normalize(lam e_ic + (1 - lam) e_jc')``; with ``t = 0.07``,
  ``l_n = v . normalize(n) / t`` for every entry ``n`` of every queue and
  ``mx = max_n l_n``,

  ``ell(v, k) = mean_{p in Q_k} -[(l_p - mx) - log(max(1e-4,
  sum_{n not in Q_k} exp(l_n - mx) + exp(l_p - mx)))]``,

  the pair's loss ``lam ell(v, c) + (1 - lam) ell(v, c')``; per image the
  mean over its classes, then the **sum** over the batch's images
  (``loss_cl_mixup`` accumulates images, ``rca.py:184, 239``). The queue
  entries are constants (detached).

CAMs (:meth:`cam`): ``relu(F)``, the fine per-class maps (the maps the
reference accumulates into its attention files, ``rca.py:152-179``).

Differences from the reference (also in ``configs/rca/README.md``): the
enqueue masks the features with each class's own mask (``rca.py:268``
reassigns ``x = x * mask`` inside the class loop, so a second class of an
image is masked by both masks); a region with an empty mask (a constant
coarse map) counts one pixel in the denominator instead of dividing by 0.
"""
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmc2am.registry import MODELS

from .base_cam_head import BaseCAMHead

ATTENTIONS = ('linear', 'softmax')
QUEUE_INITS = ('randn', 'empty')
# rca.py:223: the clamp inside the log of the InfoNCE denominator
LOG_CLAMP = 1e-4

FeatsT = Union[Tuple[Tensor], Tensor]


def _normal_init(module: nn.Module, std: float = 0.01) -> None:
    """``N(0, std)`` weights for every Conv2d, BN to (1, 0) (rca.py:86-91;
    conv biases and the Linear layers keep PyTorch's init)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0, std)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@MODELS.register_module()
class RCAHead(BaseCAMHead):
    """RCA's memory, aggregation, per-class and coarse heads and losses.

    Args:
        num_classes (int): Number of (foreground) classes ``C``.
        in_channels (int): Channels ``K`` of the last backbone feature map
            (also the width of the queue entries and the centres).
        queue_len (int): Entries ``L`` per class queue. Defaults to 500.
        num_centres (int): k-means centres ``M`` per class. Defaults to 10.
        queue_momentum (float): Weight of a slot's old value on a write.
            Defaults to 0.99.
        enqueue_thr (float): A labelled class's region is written when its
            fine probability is above this. Defaults to 0.7.
        queue_init (str): ``'randn'`` (the reference: N(0, 1) queues) or
            ``'empty'`` (module docstring). Defaults to 'randn'.
        embed_channels (int, optional): Width ``E`` of the attention's query,
            key and value. None means ``in_channels`` (the reference).
        attention (str): ``'linear'`` (the reference) or ``'softmax'``.
            Defaults to 'linear'.
        attention_scale (float, optional): Factor of the logits ``q . k``.
            None means ``20 / num_centres`` for ``'linear'`` (the reference
            multiplies by its 20 classes over its 10 centres) and
            ``1 / sqrt(E)`` for ``'softmax'``.
        head_convs (int): 3x3 conv + ReLU layers of each head before its
            1x1 classifier. Defaults to 3 (the reference).
        head_channels (int): Width of those layers (per class for the fine
            heads). Defaults to 512 (the reference).
        coarse_weight (float): Weight of the coarse head's loss. Defaults to
            0.4.
        contrast_weight (float): Weight of the mixup InfoNCE. Defaults to
            0.01.
        contrast_start_epoch (int): First (0-based) epoch whose steps add
            the InfoNCE (``train.py:101``: ``current_epoch < 2`` without).
            The epoch is set by :class:`~mmc2am.engine.RCAMemoryHook`.
            Defaults to 2.
        temperature (float): InfoNCE temperature. Defaults to 0.07.
        mixup_alpha (float): ``lam ~ Beta(alpha, alpha)``; 0 means no mixup
            (``lam = 1``). Defaults to 8.0.
        **kwargs: :class:`BaseCAMHead` arguments (``loss``: None is the
            multi-label soft margin; ``thr``, ``topk``, ``init_cfg``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 queue_len: int = 500,
                 num_centres: int = 10,
                 queue_momentum: float = 0.99,
                 enqueue_thr: float = 0.7,
                 queue_init: str = 'randn',
                 embed_channels: Optional[int] = None,
                 attention: str = 'linear',
                 attention_scale: Optional[float] = None,
                 head_convs: int = 3,
                 head_channels: int = 512,
                 coarse_weight: float = 0.4,
                 contrast_weight: float = 0.01,
                 contrast_start_epoch: int = 2,
                 temperature: float = 0.07,
                 mixup_alpha: float = 8.0,
                 **kwargs):
        self.check_choice('attention', attention, ATTENTIONS)
        self.check_choice('queue_init', queue_init, QUEUE_INITS)
        if queue_len <= 0 or num_centres <= 0 or num_centres > queue_len:
            raise ValueError('need 0 < num_centres <= queue_len')
        if not 0.0 <= queue_momentum < 1.0:
            raise ValueError('queue_momentum must be in [0, 1)')
        if head_convs < 0 or head_channels <= 0 or temperature <= 0:
            raise ValueError('head_convs >= 0, head_channels > 0 and '
                             'temperature > 0 needed')
        super().__init__(num_classes, in_channels, **kwargs)
        C, K = num_classes, in_channels
        E = in_channels if embed_channels is None else embed_channels
        self.queue_len = queue_len
        self.num_centres = num_centres
        self.queue_momentum = queue_momentum
        self.enqueue_thr = enqueue_thr
        self.queue_init = queue_init
        self.embed_channels = E
        self.attention = attention
        if attention_scale is None:
            attention_scale = (20.0 / num_centres if attention == 'linear'
                               else E**-0.5)
        self.attention_scale = attention_scale
        self.coarse_weight = coarse_weight
        self.contrast_weight = contrast_weight
        self.contrast_start_epoch = contrast_start_epoch
        self.temperature = temperature
        self.mixup_alpha = mixup_alpha
        # the current (0-based) training epoch, set by RCAMemoryHook
        self.epoch = 0

        # aggregation (rca.py:60-69): Q a 1x1 conv, K / V linear layers
        self.query = nn.Conv2d(K, E, 1)
        self.key = nn.Linear(K, E)
        self.value = nn.Linear(K, E)
        self.aggregate_conv = nn.Conv2d(E, K, 1)
        self.concat_project = nn.Conv2d(2 * K, K, 1)
        # extra_F (rca.py:53-58): the embedding of the contrast
        self.mid_proj = nn.Sequential(
            nn.Conv2d(K, K, 3, padding=1), nn.BatchNorm2d(K),
            nn.ReLU(inplace=True), nn.Conv2d(K, K, 3, padding=1))
        # per-class (fine) heads: C stacks as one conv, grouped by class
        layers = []
        ch = K
        for i in range(head_convs):
            layers += [nn.Conv2d(ch, C * head_channels, 3, padding=1,
                                 groups=1 if i == 0 else C),
                       nn.ReLU(inplace=True)]
            ch = C * head_channels
        self.fine_convs = nn.Sequential(*layers)
        self.fine_cls = nn.Conv2d(ch, C, 1, groups=C if head_convs else 1)
        # coarse head (extra_convs): shared stack, then self.conv (with bias)
        layers = []
        ch = K
        for _ in range(head_convs):
            layers += [nn.Conv2d(ch, head_channels, 3, padding=1),
                       nn.ReLU(inplace=True)]
            ch = head_channels
        self.coarse_convs = nn.Sequential(*layers)
        self.conv = nn.Conv2d(ch, C, 1)
        for m in (self.query, self.aggregate_conv, self.concat_project,
                  self.mid_proj, self.fine_convs, self.fine_cls,
                  self.coarse_convs, self.conv):
            _normal_init(m)

        # memory (rca.py:93-100)
        if queue_init == 'randn':
            queue = torch.randn(C, queue_len, K)
            filled = torch.ones(C, queue_len, dtype=torch.bool)
        else:
            queue = torch.zeros(C, queue_len, K)
            filled = torch.zeros(C, queue_len, dtype=torch.bool)
        self.register_buffer('queue', queue)
        self.register_buffer('queue_filled', filled)
        self.register_buffer('queue_ptr', torch.zeros(C, dtype=torch.long))
        self.register_buffer('centres', torch.randn(C, num_centres, K))
        self.register_buffer('num_clusterings', torch.zeros((),
                                                            dtype=torch.long))

    # ------------------------------------------------------------------ #
    # memory
    # ------------------------------------------------------------------ #
    @torch.no_grad()
    def set_centres(self, centres: Union[Tensor, np.ndarray]) -> None:
        """Copy (C, M, K) centres into the buffer (RCAMemoryHook)."""
        g = self.checked_tensor(
            centres, 'centres',
            (self.num_classes, self.num_centres, self.in_channels))
        self.centres.copy_(g.to(self.centres.device))
        self.num_clusterings += 1

    @staticmethod
    def region_masks(coarse_map: Tensor) -> Tensor:
        """``softmax_C(Fc)_c > mean_hw softmax_C(Fc)_c``, float (B, C, h, w),
        no gradient (rca.py:182, 188, 262, 266)."""
        soft = F.softmax(coarse_map.detach(), dim=1)
        return (soft > soft.mean(dim=(2, 3), keepdim=True)).to(soft)

    @staticmethod
    def region_embeddings(feat: Tensor, masks: Tensor) -> Tensor:
        """Masked means ``sum_p m_p f_p / sum_p m_p``, (B, C, K).

        Args:
            feat (Tensor): (B, K, h, w) features.
            masks (Tensor): (B, C, h, w) 0/1 masks (an empty mask counts one
                pixel in the denominator: a zero embedding).
        """
        sums = torch.einsum('bchw,bkhw->bck', masks, feat)
        return sums / masks.sum(dim=(2, 3)).clamp(min=1.0)[:, :, None]

    @torch.no_grad()
    def enqueue(self, embeddings: Tensor, target: Tensor,
                probs: Tensor) -> int:
        """Write the regions of labelled classes above ``enqueue_thr``.

        Args:
            embeddings (Tensor): (B, C, K) region embeddings.
            target (Tensor): (B, C) labels, > 0 means present.
            probs (Tensor): (B, C) fine probabilities.

        Returns:
            int: The number of entries written.
        """
        write = (target > 0) & (probs > self.enqueue_thr)
        n = 0
        m = self.queue_momentum
        for b, c in torch.nonzero(write).tolist():
            ptr = int(self.queue_ptr[c])
            e = embeddings[b, c].to(self.queue.dtype)
            if self.queue_filled[c, ptr]:
                self.queue[c, ptr] = self.queue[c, ptr] * m + e * (1 - m)
            else:
                self.queue[c, ptr] = e
                self.queue_filled[c, ptr] = True
            self.queue_ptr[c] = (ptr + 1) % self.queue_len
            n += 1
        return n

    # ------------------------------------------------------------------ #
    # maps
    # ------------------------------------------------------------------ #
    def aggregate(self, x: Tensor) -> Tensor:
        """``x' = W_P [x, W_A A (W_V G)]`` over the centres, (B, K, h, w)."""
        B, _, h, w = x.shape
        g = self.centres.detach().flatten(0, 1).to(x.dtype)  # (C M, K)
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, hw, E)
        sim = q @ self.key(g).t() * self.attention_scale  # (B, hw, C M)
        if self.attention == 'softmax':
            sim = F.softmax(sim, dim=-1)
        r = (sim @ self.value(g)).transpose(1, 2).reshape(B, -1, h, w)
        return self.concat_project(
            torch.cat([x, self.aggregate_conv(r)], dim=1))

    def maps(self, feats: FeatsT) -> Tuple[Tensor, Tensor, Tensor]:
        """The fine and coarse maps and the features they come from.

        Returns:
            tuple[Tensor, Tensor, Tensor]: fine ``F`` (B, C, h, w), coarse
            ``Fc`` (B, C, h, w), backbone features ``x`` (B, K, h, w).
        """
        x = self.pre_logits(feats)
        fine = self.fine_cls(self.fine_convs(self.aggregate(x)))
        coarse = self.conv(self.coarse_convs(x))
        return fine, coarse, x

    def forward(self, feats: FeatsT) -> Tensor:
        """Fine scores ``mean_hw F``, (B, C)."""
        return self.maps(feats)[0].mean(dim=(2, 3))

    def cam(self, feats: FeatsT) -> Tensor:
        """CAMs ``relu(F)``, the fine per-class maps, (B, C, h, w)."""
        return F.relu(self.maps(feats)[0])

    # ------------------------------------------------------------------ #
    # contrast
    # ------------------------------------------------------------------ #
    def info_nce(self, v: Tensor, cls: Tensor) -> Tensor:
        """``ell(v_n, cls_n)`` of the module docstring against the queues.

        Args:
            v (Tensor): (N, K) queries (normalised here).
            cls (Tensor): (N,) long, the positive class of each query.

        Returns:
            Tensor: (N,) losses; 0 for a class without a filled slot.
        """
        C, L = self.num_classes, self.queue_len
        v = F.normalize(v, dim=1)
        bank = F.normalize(self.queue.detach().flatten(0, 1), dim=1).to(v)
        filled = self.queue_filled.flatten()  # (C L,)
        if not bool(filled.any()):
            return v.sum(dim=1) * 0
        logits = v @ bank.t() / self.temperature  # (N, C L)
        mx = logits.masked_fill(~filled, float('-inf')).amax(dim=1,
                                                             keepdim=True)
        shifted = logits - mx.detach()
        owner = torch.arange(C, device=v.device).repeat_interleave(L)
        neg = (owner[None] != cls[:, None]) & filled[None]  # (N, C L)
        l_neg = (shifted.exp() * neg).sum(dim=1, keepdim=True)  # (N, 1)
        pos = shifted.view(-1, C, L)[torch.arange(len(cls)), cls]  # (N, L)
        pos_filled = self.queue_filled[cls].to(v)  # (N, L)
        per = -(pos - torch.log((l_neg + pos.exp()).clamp(min=LOG_CLAMP)))
        count = pos_filled.sum(dim=1)
        return (per * pos_filled).sum(dim=1) / count.clamp(min=1.0)

    def mixup_contrast(self,
                       emb: Tensor,
                       target: Tensor,
                       partners: Optional[Tensor] = None,
                       partner_cls: Optional[Tensor] = None,
                       lam: Optional[Tensor] = None) -> Tensor:
        """The batch's mixup InfoNCE (module docstring), a scalar.

        Args:
            emb (Tensor): (B, C, K) region embeddings of ``mid_proj(x)``.
            target (Tensor): (B, C) labels, > 0 means present.
            partners (Tensor, optional): (N,) partner image of each labelled
                pair (row-major order of ``nonzero(target)``); None draws
                them (uniform over the batch).
            partner_cls (Tensor, optional): (N,) the partner's class; None
                draws one of the partner's labels.
            lam (Tensor, optional): (N,) mixing weights; None draws
                ``Beta(alpha, alpha)`` (1 with ``mixup_alpha=0``).
        """
        B = emb.shape[0]
        present = target > 0
        img, cls = torch.nonzero(present, as_tuple=True)
        N = len(img)
        if N == 0:
            return emb.sum() * 0
        dev = emb.device
        if partners is None:
            partners = torch.randint(B, (N, )).to(dev)
        if partner_cls is None:
            partner_cls = self._draw_labels(present[partners], cls)
        if lam is None:
            if self.mixup_alpha > 0:
                a = torch.tensor(float(self.mixup_alpha))
                lam = torch.distributions.Beta(a, a).sample((N, )).to(dev)
            else:
                lam = torch.ones(N, device=dev)
        lam = lam.to(emb)
        q = lam[:, None] * emb[img, cls] + (1 - lam[:, None]) * emb[
            partners, partner_cls]
        per_pair = lam * self.info_nce(q, cls) + (1 - lam) * self.info_nce(
            q, partner_cls)
        per_img = torch.bincount(img, minlength=B).to(per_pair)
        return (per_pair / per_img[img]).sum()

    @staticmethod
    def _draw_labels(present: Tensor, fallback: Tensor) -> Tensor:
        """One label drawn uniformly from each row of ``present`` (N, C);
        ``fallback`` for a row without label."""
        weights = present.float()
        empty = weights.sum(dim=1) == 0
        weights[empty] = 1.0
        drawn = torch.multinomial(weights.cpu(), 1).squeeze(1).to(
            present.device)
        return torch.where(empty, fallback, drawn)

    @property
    def contrast_active(self) -> bool:
        """Whether this epoch's steps add the InfoNCE."""
        return (self.contrast_weight > 0
                and self.epoch >= self.contrast_start_epoch)

    # ------------------------------------------------------------------ #
    # loss
    # ------------------------------------------------------------------ #
    def loss_by_target(self, feats: FeatsT, target: Tensor,
                       **kwargs) -> Dict[str, Tensor]:
        """RCA's losses, then the enqueue of this batch's regions.

        Args:
            feats (tuple[Tensor] | Tensor): Backbone features.
            target (Tensor): (B, C) multi-hot image labels.
            **kwargs: Passed to the multi-label loss module.

        Returns:
            dict[str, Tensor]: ``loss_cls`` (fine), ``loss_coarse`` (with its
            weight), ``loss_contrast`` (with its weight; 0 before
            ``contrast_start_epoch``) and ``num_enqueued`` (logged).
        """
        fine, coarse, x = self.maps(feats)
        s, sc = fine.mean(dim=(2, 3)), coarse.mean(dim=(2, 3))
        target = target.to(s)
        loss_cls = self.loss_module(s, target, **kwargs)
        loss_coarse = self.coarse_weight * self.loss_module(sc, target,
                                                            **kwargs)
        masks = self.region_masks(coarse)
        if self.contrast_active:
            emb = self.region_embeddings(self.mid_proj(x), masks)
            loss_con = self.contrast_weight * self.mixup_contrast(emb, target)
        else:
            # keeps mid_proj in the graph (DDP needs every parameter used)
            loss_con = sum(p.sum() for p in self.mid_proj.parameters()) * 0
        n = self.enqueue(self.region_embeddings(x.detach(), masks), target,
                         torch.sigmoid(s.detach()))
        return dict(loss_cls=loss_cls, loss_coarse=loss_coarse,
                    loss_contrast=loss_con,
                    num_enqueued=torch.tensor(float(n), device=s.device))

    def extra_repr(self) -> str:
        return (f'queue_len={self.queue_len}, num_centres={self.num_centres}, '
                f'queue_init={self.queue_init!r}, '
                f'attention={self.attention!r}')

