"""IRN-style CAM classifier on mmpretrain's ``ImageClassifier``.

The backbone is mmpretrain's ResNet configured as IRN's: output stride 16
(``strides=(1, 2, 2, 1)`` after the stride-4 stem), BatchNorm statistics
frozen (``norm_eval=True``) and the stem plus the first two stages without
gradient (``frozen_stages=2``: stem, ``layer1``, ``layer2``, as IRN's
``stage2(x).detach()``). The head is :class:`CausalCAMHead`.

- ``val_step`` is plain multi-label classification (sigmoid scores for mAP).
- ``test_step`` with ``test_cfg=dict(mode='cam', ...)`` runs multi-scale +
  flip CAM inference (:func:`mmc2am.cam.predict_cams`) for the seed metric.
"""
from typing import List, Optional

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from mmc2am.cam.cam_inference import predict_cams


@MODELS.register_module()
class CAMClassifier(ImageClassifier):
    """Multi-label classifier that also produces CAMs.

    Args:
        backbone (dict): Backbone config (mmpretrain ``ResNet`` in the
            configs of this project).
        neck (dict, optional): Must be None: the CAM is taken on the
            spatial feature map.
        head (dict): Head config; the head must implement ``cam(feats)``
            (:class:`CausalCAMHead`).
        pretrained (str, optional): See ``ImageClassifier``.
        train_cfg (dict, optional): See ``ImageClassifier`` (batch augments).
        test_cfg (dict, optional): ``dict(mode='cam', scales=..., flip=...,
            cam_dir=...)`` makes ``test_step`` run CAM inference; any other
            mode (default ``'cls'``) is plain prediction.
        data_preprocessor (dict, optional): Defaults to
            ``ClsDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if neck is not None:
            raise ValueError('CAMClassifier takes CAMs on the backbone '
                             'feature map; a neck is not supported')
        super().__init__(
            backbone=backbone,
            neck=None,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not hasattr(self.head, 'cam'):
            raise TypeError(f'{type(self.head).__name__} has no cam() method')
        self.test_cfg = dict(test_cfg or {})
        self.test_cfg.setdefault('mode', 'cls')
        if self.test_cfg['mode'] not in ('cls', 'cam'):
            raise ValueError("test_cfg.mode must be 'cls' or 'cam', got "
                             f"{self.test_cfg['mode']!r}")

    def forward_cam(self, inputs: Tensor) -> Tensor:
        """CAMs ``relu(conv1x1(features))`` of a normalised batch.

        Args:
            inputs (Tensor): (B, 3, H, W).

        Returns:
            Tensor: (B, C, ceil(H/16), ceil(W/16)) for output stride 16.
        """
        return self.head.cam(self.extract_feat(inputs))

    def test_step(self, data: dict) -> List[DataSample]:
        """Classification scores, or CAMs when ``test_cfg.mode == 'cam'``."""
        if self.test_cfg['mode'] != 'cam':
            return super().test_step(data)
        data = self.data_preprocessor(data, False)
        opts = {k: v for k, v in self.test_cfg.items() if k != 'mode'}
        with torch.no_grad():
            return predict_cams(self, data['inputs'], data['data_samples'],
                                **opts)
