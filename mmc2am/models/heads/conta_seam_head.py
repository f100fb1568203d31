"""CONTA on SEAM's classifier: SEAM's losses, CONTA's adjusted class scores.

No public code combines them: CONTA (Zhang et al., NeurIPS 2020;
dongzhang89/CONTA) reports a CONTA+SEAM row (ResNet-38: 56.2 seed mIoU) but
publishes only its IRN variant, and SEAM's code (YudeWang/SEAM) has no
adjustment. This head is built from the two components of this project:

- :class:`SEAMHead`: the two views, the PCM, the background channel and
  the losses ``loss_rvmin``, ``loss_er``, ``loss_ecr`` unchanged;
- :class:`CONTAHead`: the confounder set (filled by
  :class:`~mmc2am.engine.ConfounderSetHook` from the previous round's
  pseudo-masks), the attention and the fusion; the classification term
  ``loss_cls`` of each view is the multi-label soft-margin loss of CONTA's
  adjusted scores ``s = W_x x + W_z z + b`` (``fusion='concat'``) of the
  view's pooled, dropped-out features ``x``, where SEAM scores
  ``GAP(y)``. Validation scores are CONTA's too (``forward``).

The CAMs are SEAM's (PCM-refined CAM of ``W_x f`` and the background
channel); CONTA's ``cam_adjusted`` is not supported. One round is one
fine-tuning of SEAM's classifier (``configs/conta/conta_seam_*.py``).
"""
from torch import Tensor

from mmc2am.registry import MODELS

from .conta_head import CONTAHead
from .seam_head import SEAMHead


@MODELS.register_module()
class CONTASEAMHead(SEAMHead, CONTAHead):
    """SEAM's head whose classification scores are CONTA's backdoor-adjusted
    ones.

    Args:
        num_classes (int): Foreground classes ``C`` (and confounder-set
            entries).
        in_channels (int): Channels ``K`` of the last backbone feature map.
        **kwargs: :class:`SEAMHead` arguments (``pcm``, ``pcm_in_indices``,
            ``dropout``, ``ecr_ratio``, ``min_pool_ratio``,
            ``loss_weights``) and :class:`CONTAHead` ones (``fusion``,
            ``embed_channels``, ``prior``, ``passthrough_without_set``) and
            :class:`BaseCAMHead`'s.

    Raises:
        ValueError: ``cam_adjusted=True``.
    """

    def __init__(self, num_classes: int, in_channels: int, **kwargs):
        if kwargs.get('cam_adjusted', False):
            raise ValueError('CONTASEAMHead: the CAMs are SEAM\'s PCM maps; '
                             'cam_adjusted is not supported')
        # MRO: SEAMHead -> CONTAHead -> BaseCAMHead, each taking its own
        # keyword arguments
        super().__init__(num_classes, in_channels, **kwargs)

    def class_scores(self, f: Tensor, cam: Tensor) -> Tensor:
        """CONTA's adjusted (B, C) scores of the view's dropped-out features
        ``f`` (:meth:`CONTAHead.forward`)."""
        return CONTAHead.forward(self, f)
