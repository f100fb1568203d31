"""W-OoD's classifier training with the erase negatives as its OoD images.

W-OoD (Lee et al., CVPR 2022, ``naver-ai/w-ood``; issue 26 build item 3,
its "erase negatives" form) fine-tunes the CAM classifier with images that
show no class. Its reference (``step/train_cam_clustering.py``) does, per
step:

- lines 388-398: the distance loss ``loss_M`` on the in-distribution
  batch's GAP features (last stage), against class centres and OoD cluster
  centres computed once with the start model
  (:class:`~mmc2am.models.losses.WOoDDistanceLoss`), weighted by
  ``distance_lambda`` = 0.007;
- lines 412-421: a separate OoD batch (its own loader of OpenImages
  images) is hardened by one anti-adversarial step of size 0.07 in train
  mode (:func:`~mmc2am.models.losses.harden_ood`), then trained with an
  all-zero target (``multilabel_soft_margin_loss``, lines 424-428);
- the loss ``BCE(ID) + distance_lambda * loss_M + ood_coeff * loss_ood``.

:class:`WOoDClassifier` does the same inside one batch: the OoD images are
the erase negatives (:class:`~mmc2am.datasets.transforms.EraseObjects`),
the samples of the batch with an empty label. They are hardened in place,
then the whole batch (ID and hardened OoD images, the latter with their
all-zero target) goes through the ordinary CAM loss, so the OoD images
weigh in the element mean over ``B x C`` as any image (the reference:
``sum / cam_batch_size`` of the OoD batch's per-image losses times
``ood_coeff``, and no class-4 exclusion here, line 426). The distance loss
takes the GAP features of the ID samples of the same forward pass.
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample
from torch import Tensor

from mmc2am.registry import MODELS

from .cam_classifier import CAMClassifier
from .losses.wood_distance_loss import WOoDDistanceLoss, harden_ood

__all__ = ['WOoDClassifier']

CENTRES_HOOK = 'WOoDCentresHook'


@MODELS.register_module()
class WOoDClassifier(CAMClassifier):
    """:class:`CAMClassifier` trained with W-OoD's hardening and distance
    loss; the OoD images are the batch's samples with an empty label.

    Args:
        distance_loss (dict): Config of the :class:`WOoDDistanceLoss` (its
            weight, ``ood_dist_topk``, ``loss_name``). Defaults to
            ``dict(type='WOoDDistanceLoss')``. Its centres are set before
            training by :class:`~mmc2am.engine.WOoDCentresHook`.
        harden (bool): Harden the OoD images (one anti-adversarial step)
            before the loss. Defaults to True, as the reference.
        xi (float): Step size of the hardening (the largest change of an
            input element). Defaults to the reference's 0.07.
        **kwargs: :class:`CAMClassifier` arguments.

    Raises:
        TypeError: ``distance_loss`` does not build a
            :class:`WOoDDistanceLoss`.
        ValueError: ``xi`` < 0.
    """

    def __init__(self,
                 *args,
                 distance_loss: Optional[dict] = None,
                 harden: bool = True,
                 xi: float = 0.07,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if distance_loss is None:
            distance_loss = dict(type='WOoDDistanceLoss')
        self.distance_loss = MODELS.build(distance_loss)
        if not isinstance(self.distance_loss, WOoDDistanceLoss):
            raise TypeError(f'distance_loss must build a WOoDDistanceLoss, '
                            f'got {type(self.distance_loss).__name__}')
        if xi < 0:
            raise ValueError(f'xi must be >= 0, got {xi}')
        self.harden = bool(harden)
        self.xi = float(xi)

    # ------------------------------------------------------------------ #
    # pieces shared with WOoDCentresHook
    # ------------------------------------------------------------------ #
    def gap_features(self, feats) -> Tensor:
        """(B, D) GAP of the feature map the head pools (the last backbone
        stage, ``head.pre_logits``): the reference's ``out_features[2]``.

        Args:
            feats (tuple[Tensor] | Tensor): :meth:`extract_feat`'s output.
        """
        return F.adaptive_avg_pool2d(self.head.pre_logits(feats), 1).flatten(1)

    def logits(self, inputs: Tensor) -> Tensor:
        """(B, C) plain logits ``conv1x1(GAP(f))`` of a normalised batch
        (the head's ``forward``, not an adjusted score): what the reference
        hardens against (``model.feature_list``'s logits)."""
        return self.head(self.extract_feat(inputs))

    @staticmethod
    def ood_mask(data_samples: List[DataSample]) -> List[bool]:
        """Per sample, whether it is an OoD image: no class in its label.

        Read from ``gt_label`` (an erased image's is empty), on the host:
        no device sync per step. A sample without ``gt_label`` is OoD when
        its ``gt_score`` is all zeros.
        """
        return [s.gt_label.numel() == 0 if 'gt_label' in s else
                not bool(s.gt_score.any()) for s in data_samples]

    def _check_centres(self) -> None:
        if self.distance_loss.class_centres is None or \
                self.distance_loss.ood_centres is None:
            raise RuntimeError(
                'WOoDClassifier: the distance loss has no centres; add '
                f"custom_hooks=[dict(type='{CENTRES_HOOK}')] to the config "
                '(it sets them before training with the start model), or '
                'call model.distance_loss.set_centres(...)')

    # ------------------------------------------------------------------ #
    # loss
    # ------------------------------------------------------------------ #
    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        """The CAM losses of the batch (OoD images hardened) plus the
        distance loss of its ID samples.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[DataSample]): B samples; those with an empty
                ``gt_label`` are the OoD images.

        Returns:
            dict[str, Tensor]: The head's losses and
            ``distance_loss.loss_name``: the distance loss of the ID
            samples' (B_id, D) GAP features, 0 in a batch without ID
            sample (kept so that every step logs the same keys).

        Raises:
            RuntimeError: The distance loss's centres are not set
                (:class:`~mmc2am.engine.WOoDCentresHook` missing).
        """
        self._check_centres()
        ood = self.ood_mask(data_samples)
        ood_idx = [i for i, o in enumerate(ood) if o]
        id_idx = [i for i, o in enumerate(ood) if not o]
        if self.harden and ood_idx:
            # in the current (train) mode, as the reference (its BatchNorm
            # takes the OoD sub-batch's statistics for the step); a new
            # tensor, the caller's batch stays as it was
            idx = torch.tensor(ood_idx, device=inputs.device)
            hard = harden_ood(self.logits, inputs[idx], xi=self.xi)
            inputs = inputs.index_copy(0, idx, hard.to(inputs.dtype))
        feats = self.extract_feat(inputs)
        losses = self.head.loss(feats, data_samples)
        name = self.distance_loss.loss_name
        if id_idx:
            idx = torch.tensor(id_idx, device=inputs.device)
            target = self.head.targets([data_samples[i] for i in id_idx])
            losses[name] = self.distance_loss(
                self.gap_features(feats)[idx], target.to(inputs.device))
        else:
            losses[name] = inputs.new_zeros(())
        return losses
