"""Base of the CAM heads: GAP + 1x1 conv classifier and the shared plumbing.

IRN's CAM classifier, as :class:`CausalCAMHead`, :class:`ReCAMHead` and
:class:`CONTAHead` all build on it (the pattern of mmseg's ``BaseDecodeHead``
and mmpretrain's ``ClsHead``): the base owns

- the inputs: the last backbone feature map ``f`` (B, K, h, w), already
  pooled features (B, K) taken as 1 x 1 maps (:meth:`pre_logits`);
- the classifier ``conv``: a 1x1 conv ``W`` (C, K) without bias, with
  PyTorch's default init (IRN's ``nn.Conv2d(2048, 20, 1, bias=False)`` is
  never re-initialised);
- the plain logits ``z = W GAP(f)`` (:meth:`forward`) and the CAMs
  ``relu(W f)`` (:meth:`cam`);
- the loss plumbing: the (B, C) multi-hot targets from ``gt_score`` or
  ``gt_label``, the loss module on the scores :meth:`adjusted_scores` gives
  (:meth:`loss` -> :meth:`loss_by_target`);
- predict: ``sigmoid`` of :meth:`predict_scores`, ``pred_label`` by ``thr``
  / ``topk`` (:class:`MultiLabelClsHead`);
- buffers filled by a hook (a global CAM, a confounder set), each with a
  boolean buffer flag saved in checkpoints and a host copy of that flag,
  since reading the buffer is a device sync that would cost every CUDA
  training step (issue 15) (:meth:`register_flag`, :meth:`flag_is_set`,
  :meth:`fill_buffers`, :meth:`checked_tensor`).

A head overrides its scoring (:meth:`adjusted_scores`, :meth:`forward`,
:meth:`predict_scores`), its CAMs (:meth:`cam`) and adds its loss terms in
:meth:`loss_by_target`. On its own the base is the plain CAM classifier: its
loss is the multi-label soft-margin loss of ``z`` (sigmoid BCE-with-logits
averaged over ``B x C``), the numbers of ``CausalCAMHead(adjustment=None)``
without the global CAM buffers.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.structures import DataSample, label_to_onehot
from torch import Tensor

from mmc2am.registry import MODELS


@MODELS.register_module()
class BaseCAMHead(MultiLabelClsHead):
    """GAP + 1x1 conv multi-label CAM head (plain CAM on its own).

    Args:
        num_classes (int): Number of (foreground) classes ``C``.
        in_channels (int): Channels ``K`` of the last backbone feature map.
        loss (dict, optional): Loss config, called with ``reduction='mean'``
            over all ``B x C`` elements, which with the default sigmoid
            cross-entropy equals ``F.multilabel_soft_margin_loss``.
            None means
            ``dict(type='mmpretrain.CrossEntropyLoss', use_sigmoid=True)``.
        thr (float, optional): Score threshold for ``pred_label``
            (see :class:`MultiLabelClsHead`).
        topk (int, optional): Top-k for ``pred_label``.
        init_cfg (dict, optional): None keeps PyTorch's default ``Conv2d``
            initialisation of ``conv`` (Kaiming-uniform with ``a=sqrt(5)``),
            IRN's. Defaults to None.

    Raises:
        ValueError: ``num_classes`` or ``in_channels`` <= 0.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss: Optional[dict] = None,
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        if loss is None:
            loss = dict(type='mmpretrain.CrossEntropyLoss', use_sigmoid=True)
        if num_classes <= 0 or in_channels <= 0:
            raise ValueError('num_classes and in_channels must be > 0')
        super().__init__(loss=loss, thr=thr, topk=topk, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.conv = nn.Conv2d(in_channels, num_classes, 1, bias=False)
        # host copies of the buffer flags (register_flag), by buffer name
        self._host_flags: Dict[str, bool] = {}

    @staticmethod
    def check_choice(name: str, value, choices: Sequence) -> None:
        """Raise ``ValueError('<name> must be one of <choices>, got ...')``
        unless ``value`` is in ``choices``."""
        if value not in choices:
            raise ValueError(f'{name} must be one of {choices}, '
                             f'got {value!r}')

    # ------------------------------------------------------------------ #
    # buffers filled by a hook, with a host-cached flag
    # ------------------------------------------------------------------ #
    def register_flag(self, name: str) -> None:
        """Register the boolean buffer ``name`` (False) and its host copy.

        The buffer goes into checkpoints; :meth:`flag_is_set` reads it once
        after a state-dict load and then answers from the host copy.
        """
        self.register_buffer(name, torch.tensor(False))
        self._host_flags[name] = False

    def flag_is_set(self, name: str) -> bool:
        """Whether the flag buffer ``name`` is True (no device sync once
        True)."""
        if not self._host_flags[name]:
            # one read after a state-dict load; True stays cached
            self._host_flags[name] = bool(getattr(self, name).item())
        return self._host_flags[name]

    @torch.no_grad()
    def fill_buffers(self, flag: str, **values: Tensor) -> None:
        """Copy each value into the buffer of its name (in the given order,
        onto the buffer's device), then set the flag buffer ``flag``."""
        for name, value in values.items():
            buffer = getattr(self, name)
            buffer.copy_(value.to(buffer.device))
        getattr(self, flag).fill_(True)
        self._host_flags[flag] = True

    @staticmethod
    def checked_tensor(value: Union[Tensor, np.ndarray], what: str,
                       shape: Sequence[Union[int, str]]) -> Tensor:
        """``value`` as a float32 tensor, checked for shape and finiteness.

        Args:
            value (Tensor | np.ndarray): The values to store.
            what (str): Their name in the errors, e.g. ``'global CAM'``.
            shape (Sequence[int | str]): Expected shape; an ``int`` must
                match, a ``str`` (e.g. ``'H'``) names a free size.

        Raises:
            ValueError: ``'<what> must be (<shape>), got (...)'`` or
                ``'<what> holds NaN or inf values'``.
        """
        t = torch.as_tensor(value, dtype=torch.float32)
        if t.dim() != len(shape) or any(
                isinstance(s, int) and n != s for s, n in zip(shape, t.shape)):
            expected = ', '.join(str(s) for s in shape)
            raise ValueError(
                f'{what} must be ({expected}), got {tuple(t.shape)}')
        if not torch.isfinite(t).all():
            raise ValueError(f'{what} holds NaN or inf values')
        return t

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        # re-read the loaded flag buffers
        self._host_flags = dict.fromkeys(self._host_flags, False)

    # ------------------------------------------------------------------ #
    # forward
    # ------------------------------------------------------------------ #
    def pre_logits(self, feats: Union[Tuple[Tensor], Tensor]) -> Tensor:
        """The last feature map, (B, in_channels, h, w).

        Already pooled features (B, in_channels), as a stock mmpretrain
        config's ``GlobalAveragePooling`` neck gives, are taken as 1 x 1 maps.
        """
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        return x[:, :, None, None] if x.dim() == 2 else x

    def forward(self, feats: Union[Tuple[Tensor], Tensor]) -> Tensor:
        """Plain logits ``conv1x1(GAP(f))``, (B, C)."""
        x = self.pre_logits(feats)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.conv(x).flatten(1)

    def cam(self, feats: Union[Tuple[Tensor], Tensor]) -> Tensor:
        """CAMs ``relu(conv1x1(f))``, (B, C, h, w)."""
        return F.relu(self.conv(self.pre_logits(feats)))

    def adjusted_scores(self,
                        feats: Union[Tuple[Tensor], Tensor],
                        target: Optional[Tensor] = None) -> Tensor:
        """The (B, C) class scores the loss is computed on: :meth:`forward`.

        Args:
            feats (tuple[Tensor] | Tensor): Backbone features.
            target (Tensor, optional): (B, C) image labels (> 0 means
                present), for a head whose score needs them.
        """
        return self(feats)

    def predict_scores(self, feats: Union[Tuple[Tensor], Tensor]) -> Tensor:
        """The (B, C) scores whose sigmoid is predicted: :meth:`forward`."""
        return self(feats)

    # ------------------------------------------------------------------ #
    # loss / predict
    # ------------------------------------------------------------------ #
    def targets(self, data_samples: List[DataSample]) -> Tensor:
        """(B, C) float multi-hot image labels from ``gt_score`` (C,) or,
        without it, ``gt_label`` (class indices)."""
        if 'gt_score' in data_samples[0]:
            return torch.stack([s.gt_score.float() for s in data_samples])
        return torch.stack([
            label_to_onehot(s.gt_label, self.num_classes)
            for s in data_samples
        ]).float()

    def loss(self, feats: Tuple[Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """Losses against the image labels (:meth:`loss_by_target`).

        Args:
            feats (tuple[Tensor]): Backbone features; the last one is used.
            data_samples (list[DataSample]): With ``gt_score`` (C,) or
                ``gt_label`` (class indices).
            **kwargs: Passed to the loss module.

        Returns:
            dict[str, Tensor]: The head's losses (``{'loss': ...}`` here).
        """
        return self.loss_by_target(feats, self.targets(data_samples),
                                   **kwargs)

    def loss_by_target(self, feats: Union[Tuple[Tensor], Tensor],
                       target: Tensor, **kwargs) -> dict:
        """Loss of :meth:`adjusted_scores` against ``target`` (B, C).

        Returns:
            dict[str, Tensor]: ``{'loss': ...}``.
        """
        scores = self.adjusted_scores(feats, target)
        # Element-wise mean (no avg_factor): the multilabel soft-margin loss.
        return dict(loss=self.loss_module(scores, target.to(scores), **kwargs))

    def predict(self,
                feats: Tuple[Tensor],
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """``pred_score`` = sigmoid of :meth:`predict_scores` (for mAP),
        ``pred_label``."""
        return self._get_predictions(self.predict_scores(feats), data_samples)
