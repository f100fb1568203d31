"""CONTA head: backdoor adjustment by a confounder set of class features.

CONTA (Zhang et al., NeurIPS 2020, "Causal Intervention for
Weakly-Supervised Semantic Segmentation") classifies with
``P(Y|do(X)) = sum_c P(Y|X, M=g(X, c)) P(c)`` over a confounder set
``C = {c_1 .. c_n}`` built from the pseudo-masks of the previous round,
approximated (normalised weighted geometric mean) by one forward pass on the
expected mediator ``E_c[g(x, c)]``. Here the set is a feature dictionary, as
in the only adjustment code of the public repository
(dongzhang89/CONTA ``segmentation/tools/m_t.py``, ``CausalPredictor``,
taken from VC R-CNN):

- confounder set ``D`` (n, K): row ``i`` is the mean backbone feature of
  class ``i`` under the pseudo-masks (computed by
  :class:`~mmc2am.engine.ConfounderSetHook`; background excluded, as
  ``m_t.py`` drops row 0 of its dictionary file: ``np.load(DIC_FILE)[1:]``),
  ``n = num_classes``;
- prior ``P`` (n,): ``1/n`` (the paper's ``P(c_i) = 1/n``, ``prior='uniform'``)
  or the share of training images holding each class (``'frequency'``,
  ``m_t.py`` loads a ``PRIOR_PROB`` file);
- for an image with features ``f`` (K, h, w), ``x = GAP(f)`` (K,):

  ``q = W_q x + b_q`` (E,), ``k_i = W_k d_i + b_k`` (E,),
  ``a_i = softmax_i(q . k_i / sqrt(E))`` (n,),
  ``z = sum_i P_i a_i d_i`` (K,)
  (``m_t.py`` ``z_dic``: ``Wy`` = ``W_q``, ``Wz`` = ``W_k``, divided by
  ``embedding_size ** 0.5``, softmax over the dictionary, ``prior @ z_hat``);
- class scores (C,):

  ``fusion='concat'`` (``m_t.py``'s ``causal_score(cat(x, z))``, a linear
  layer on the concatenation): ``s = W_x x + W_z z + b``, with ``W_x`` the
  1x1 CAM classifier ``conv`` (no bias, IRN's) and ``W_z, b`` the linear
  layer ``conf_fc``; ``fusion='add'``: ``s = W_x (x + z)``.

The loss is the multi-label soft-margin loss (sigmoid BCE, mean over
``B x C``) on ``s``, as IRN's. CAMs: ``relu(W_x f)`` (``cam_adjusted=False``,
the default: the intervention shapes training, the maps are the CAM
classifier's) or the per-pixel map whose mean is ``s``,
``relu(W_x f + W_z z + b)`` (``'concat'``) / ``relu(W_x (f + z))``
(``'add'``) with ``cam_adjusted=True``.

``D``, ``P`` and the flag ``confounder_set_set`` are registered buffers, saved
in and restored from checkpoints. Without a set the head raises unless
``passthrough_without_set=True``, which gives the plain ``W_x x``.
"""
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmc2am.registry import MODELS

from .base_cam_head import BaseCAMHead

FUSIONS = ('concat', 'add')
PRIORS = ('uniform', 'frequency')


@MODELS.register_module()
class CONTAHead(BaseCAMHead):
    """GAP + 1x1 conv multi-label head with CONTA's backdoor adjustment.

    Args:
        num_classes (int): Number of (foreground) classes ``C``; also the
            number ``n`` of confounder-set entries.
        in_channels (int): Channels ``K`` of the last backbone feature map.
        fusion (str): ``'concat'`` (``m_t.py``: a linear layer on
            ``[x, z]``) or ``'add'`` (``x + z`` through the CAM classifier).
            Defaults to 'concat'.
        embed_channels (int, optional): ``E``, the width of the attention
            projections. None means ``num_classes + 1`` (``m_t.py``:
            ``embedding_size = 21`` for VOC's 20 classes + background).
        prior (str): ``'uniform'`` (``1/n``, the paper) or ``'frequency'``
            (share of the training images holding each class, from the
            hook's pass). Defaults to 'uniform'.
        cam_adjusted (bool): CAMs with the per-image adjustment term added
            before the ReLU (see the module docstring). Defaults to False.
        passthrough_without_set (bool): Without a confounder set, score with
            ``W_x x`` instead of raising. Defaults to False.
        **kwargs: :class:`BaseCAMHead` arguments: ``loss`` (None: the
            multi-label soft-margin loss, mean over ``B x C``), ``thr``,
            ``topk``, ``init_cfg`` (None keeps PyTorch's default init of the
            CAM classifier, IRN's). The new layers get ``m_t.py``'s init:
            ``W_q, W_k ~ N(0, 0.02)``, ``W_z ~ N(0, 0.01)``, biases 0.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 fusion: str = 'concat',
                 embed_channels: Optional[int] = None,
                 prior: str = 'uniform',
                 cam_adjusted: bool = False,
                 passthrough_without_set: bool = False,
                 **kwargs):
        self.check_choice('fusion', fusion, FUSIONS)
        self.check_choice('prior', prior, PRIORS)
        if embed_channels is None:
            embed_channels = num_classes + 1
        if embed_channels <= 0:
            raise ValueError('embed_channels must be > 0')
        # W_x: IRN's CAM classifier ``conv`` (loaded from the plain-CAM
        # checkpoint)
        super().__init__(num_classes, in_channels, **kwargs)
        self.fusion = fusion
        self.embed_channels = embed_channels
        self.prior = prior
        self.cam_adjusted = cam_adjusted
        self.passthrough_without_set = passthrough_without_set

        # m_t.py's Wy / Wz: the attention projections of x and of d_i
        self.query = nn.Linear(in_channels, embed_channels)
        self.key = nn.Linear(in_channels, embed_channels)
        nn.init.normal_(self.query.weight, std=0.02)
        nn.init.normal_(self.key.weight, std=0.02)
        nn.init.zeros_(self.query.bias)
        nn.init.zeros_(self.key.bias)
        if fusion == 'concat':
            # the z half (and the bias) of m_t.py's causal_score
            self.conf_fc = nn.Linear(in_channels, num_classes)
            nn.init.normal_(self.conf_fc.weight, std=0.01)
            nn.init.zeros_(self.conf_fc.bias)

        # Buffers, not parameters: saved in checkpoints, never trained.
        self.register_buffer('confounder_set',
                             torch.zeros(num_classes, in_channels))
        self.register_buffer('confounder_prior',
                             torch.full((num_classes, ), 1.0 / num_classes))
        self.register_flag('confounder_set_set')

    # ------------------------------------------------------------------ #
    # confounder set
    # ------------------------------------------------------------------ #
    @property
    def has_confounder_set(self) -> bool:
        """Whether :meth:`set_confounder_set` has filled the buffer."""
        return self.flag_is_set('confounder_set_set')

    @torch.no_grad()
    def set_confounder_set(self,
                           confounder_set: Union[Tensor, np.ndarray],
                           class_counts: Optional[Union[Tensor,
                                                        np.ndarray]] = None
                           ) -> None:
        """Copy a (C, K) confounder set into the buffer and set the prior.

        Args:
            confounder_set (Tensor | np.ndarray): (C, K) class features.
            class_counts (Tensor | np.ndarray, optional): (C,) number of
                training images holding each class; needed by
                ``prior='frequency'``, ignored by ``'uniform'``.
        """
        d = self.checked_tensor(confounder_set, 'confounder set',
                                (self.num_classes, self.in_channels))
        if self.prior == 'uniform':
            p = torch.full((self.num_classes, ), 1.0 / self.num_classes)
        else:
            if class_counts is None:
                raise ValueError("prior='frequency' needs class_counts")
            p = torch.as_tensor(class_counts, dtype=torch.float64).flatten()
            if p.shape != (self.num_classes, ) or (p < 0).any() or \
                    p.sum() <= 0:
                raise ValueError(
                    f'class_counts must be ({self.num_classes},), '
                    f'non-negative, not all zero; got {p.tolist()}')
            p = (p / p.sum()).float()
        self.fill_buffers('confounder_set_set', confounder_set=d,
                          confounder_prior=p)

    def _check_set(self) -> bool:
        """True if the set is there; False to pass through; else raise."""
        if self.has_confounder_set:
            return True
        if self.passthrough_without_set:
            return False
        raise RuntimeError(
            'CONTAHead needs the confounder set: add ConfounderSetHook to '
            'custom_hooks, load a checkpoint that holds it, call '
            'head.set_confounder_set(), or set passthrough_without_set=True')

    # ------------------------------------------------------------------ #
    # scores (pre_logits, loss, predict: BaseCAMHead)
    # ------------------------------------------------------------------ #
    def attention(self, x: Tensor) -> Tensor:
        """``a = softmax_i((W_q x + b_q) . (W_k d_i + b_k) / sqrt(E))``.

        Args:
            x (Tensor): (B, K) pooled image features.

        Returns:
            Tensor: (B, n) attention over the confounder set.
        """
        q = self.query(x)  # (B, E)
        k = self.key(self.confounder_set.to(x.dtype))  # (n, E)
        return F.softmax(q @ k.t() / self.embed_channels**0.5, dim=1)

    def intervention(self, x: Tensor) -> Tensor:
        """The expected confounder ``z = sum_i P_i a_i d_i``, (B, K).

        Args:
            x (Tensor): (B, K) pooled image features.
        """
        a = self.attention(x) * self.confounder_prior.to(x.dtype)
        return a @ self.confounder_set.to(x.dtype)

    def forward(self, feats: Union[Tuple[Tensor], Tensor]) -> Tensor:
        """Adjusted class scores ``s``, (B, C): what the loss trains and what
        is predicted."""
        x = F.adaptive_avg_pool2d(self.pre_logits(feats), 1).flatten(1)
        w = self.conv.weight.flatten(1)  # (C, K)
        if not self._check_set():
            return x @ w.t()
        z = self.intervention(x)
        if self.fusion == 'add':
            return (x + z) @ w.t()
        return x @ w.t() + self.conf_fc(z)

    def cam(self, feats: Union[Tuple[Tensor], Tensor]) -> Tensor:
        """CAMs, (B, C, h, w): ``relu(W_x f)``, or with ``cam_adjusted`` the
        per-pixel map whose spatial mean is the adjusted score."""
        if not self.cam_adjusted or not self._check_set():
            return super().cam(feats)
        f = self.pre_logits(feats)
        logit_map = self.conv(f)
        z = self.intervention(F.adaptive_avg_pool2d(f, 1).flatten(1))
        if self.fusion == 'add':
            term = z @ self.conv.weight.flatten(1).t()
        else:
            term = self.conf_fc(z)
        return F.relu(logit_map + term[:, :, None, None])

    def extra_repr(self) -> str:
        return (f'fusion={self.fusion!r}, embed_channels='
                f'{self.embed_channels}, prior={self.prior!r}, '
                f'cam_adjusted={self.cam_adjusted}')
