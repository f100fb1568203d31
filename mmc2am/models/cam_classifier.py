"""IRN-style CAM classifier on mmpretrain's ``ImageClassifier``.

The backbone is mmpretrain's ResNet configured as IRN's: output stride 16
(``strides=(1, 2, 2, 1)`` after the stride-4 stem), BatchNorm statistics
frozen (``norm_eval=True``) and the stem plus the first two stages without
gradient (``frozen_stages=2``: stem, ``layer1``, ``layer2``, as IRN's
``stage2(x).detach()``). The head is :class:`CausalCAMHead`.

- ``val_step`` is plain multi-label classification (sigmoid scores for mAP).
- ``predict`` (``test_step``) with ``test_cfg=dict(mode='cam', ...)`` runs
  multi-scale + flip CAM inference (:func:`mmc2am.cam.predict_cams`) for the
  seed metric and the CAM files.
"""
from typing import List, Optional

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from mmc2am.cam.advcam import predict_advcams
from mmc2am.cam.cam_inference import predict_cams

from .cam_data_preprocessor import CAMDataPreprocessor

# test modes whose predictions are CAMs (plain multi-scale, AdvCAM)
CAM_MODES = ('cam', 'advcam')


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
        test_cfg (dict, optional): ``dict(mode='cam', scales=..., flip=...)``
            makes ``predict`` return CAMs; any other mode (default
            ``'cls'``) is plain prediction.
        data_preprocessor (dict, optional): A config without ``type``
            (or None) builds :class:`CAMDataPreprocessor`, mmpretrain's
            ``ClsDataPreprocessor`` with multi-hot targets made on the host
            in training.
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
        if data_preprocessor is None or isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor or {})
            data_preprocessor.setdefault(
                'type', f'mmpretrain.{CAMDataPreprocessor.__name__}')
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
        if self.test_cfg['mode'] not in CAM_MODES + ('cls', ):
            raise ValueError("test_cfg.mode must be 'cls', 'cam' or "
                             f"'advcam', got {self.test_cfg['mode']!r}")

    def forward_cam(self, inputs: Tensor) -> Tensor:
        """CAMs ``relu(conv1x1(features))`` of a normalised batch.

        Args:
            inputs (Tensor): (B, 3, H, W).

        Returns:
            Tensor: (B, C, ceil(H/16), ceil(W/16)) for output stride 16.
        """
        return self.head.cam(self.extract_feat(inputs))

    def val_step(self, data: dict) -> List[DataSample]:
        """Plain multi-label classification (sigmoid scores for mAP),
        whatever ``test_cfg.mode``."""
        data = self.data_preprocessor(data, False)
        return super().predict(data['inputs'], data['data_samples'])

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Classification scores, or CAMs when ``test_cfg.mode == 'cam'``.

        In CAM mode each sample gets ``cam_keys``, ``cam`` and
        ``high_res_cam`` (:func:`mmc2am.cam.predict_cams` with the other
        ``test_cfg`` keys), so ``forward(mode='predict')`` and ``test_step``
        give CAMs to any caller; the files are written by
        :class:`mmc2am.engine.CAMFileHook`. Without data samples there are
        no classes to take CAMs of: the prediction is then the
        classification (``pred_score``), as in ``'cls'`` mode.
        """
        if self.test_cfg['mode'] not in CAM_MODES or data_samples is None:
            return super().predict(inputs, data_samples, **kwargs)
        opts = {k: v for k, v in self.test_cfg.items() if k != 'mode'}
        if opts.pop('cam_dir', None) is not None:
            raise ValueError(
                'model.test_cfg.cam_dir is gone: CAM files are written by '
                "CAMFileHook (default_hooks.cam_file=dict(type='CAMFileHook',"
                ' out_dir=...))')
        if self.test_cfg['mode'] == 'advcam':
            # adversarial climbing needs input gradients: it enables them
            # itself under the test loop's no_grad
            return predict_advcams(self, inputs, data_samples, **opts)
        with torch.no_grad():
            return predict_cams(self, inputs, data_samples, **opts)
