"""IRN-style CAM classifier on mmpretrain's ``ImageClassifier``.

The backbone is mmpretrain's ResNet configured as IRN's: output stride 16
(``strides=(1, 2, 2, 1)`` after the stride-4 stem), BatchNorm statistics
frozen (``norm_eval=True``) and the stem plus the first two stages without
gradient (``frozen_stages=2``: stem, ``layer1``, ``layer2``, as IRN's
``stage2(x).detach()``). The head is :class:`CausalCAMHead`.

- ``val_step`` is plain multi-label classification (sigmoid scores for mAP).
- ``predict`` (``test_step``) with ``test_cfg=dict(mode='cam', ...)`` runs
  the CAM generator of ``test_cfg.cam_generator`` for the seed metric and
  the CAM files: by default multi-scale + flip CAMs
  (:class:`~mmc2am.models.cam_generators.MultiScaleCAM`), or e.g.
  ``cam_generator=dict(type='AdvCAM', adv_iter=27, ...)``.
"""
from typing import List, Optional

from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.structures import DataSample
from torch import Tensor

from mmc2am.registry import MODELS

from .cam_data_preprocessor import CAMDataPreprocessor
from .cam_generators import BaseCAMGenerator

# the CAM generator of a test_cfg without one
DEFAULT_CAM_GENERATOR = dict(type='mmc2am.MultiScaleCAM')
# test_cfg keys that are not options of the CAM generator
OWN_TEST_KEYS = ('mode', 'cam_generator')


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
        test_cfg (dict, optional): ``mode``: ``'cam'`` makes ``predict``
            return CAMs, ``'cls'`` (default) is plain prediction.
            ``cam_generator``: the config of the registered CAM generator
            that makes the CAMs (:class:`BaseCAMGenerator`), default
            ``dict(type='MultiScaleCAM')``. Every other key (``scales``,
            ``flip``, ...) is an argument of the generator, shared by any
            generator a child config selects; a key may be set in one of
            the two places only.
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
                'type', f'mmc2am.{CAMDataPreprocessor.__name__}')
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
        mode = self.test_cfg['mode']
        if mode == 'advcam':
            raise ValueError(
                "model.test_cfg.mode='advcam' is gone: AdvCAM is a CAM "
                "generator, test_cfg=dict(mode='cam', cam_generator=dict("
                "type='AdvCAM', ...)) (configs/_base_/models/advcam.py)")
        if mode not in ('cls', 'cam'):
            raise ValueError(
                f"test_cfg.mode must be 'cls' or 'cam', got {mode!r}")
        # built now, in the registry scope that built this model; predict
        # runs it whenever test_cfg.mode is 'cam' (CAMInferencer switches
        # the mode of a 'cls' model)
        self.cam_generator = self.build_cam_generator(self.test_cfg)

    @staticmethod
    def build_cam_generator(test_cfg: dict) -> BaseCAMGenerator:
        """The CAM generator a ``test_cfg`` describes.

        Args:
            test_cfg (dict): ``cam_generator`` (a config, default
                ``dict(type='MultiScaleCAM')``) and the generator's shared
                arguments (every key but ``mode``), e.g. ``scales``,
                ``flip``.

        Returns:
            BaseCAMGenerator: Built from ``MODELS``.

        Raises:
            KeyError: ``cam_generator.type`` is not registered.
            TypeError: It is registered but not a CAM generator, or an
                argument is not the generator's.
            ValueError: A key is set both in ``test_cfg`` and in
                ``test_cfg.cam_generator``, or ``test_cfg.cam_dir`` is set.
        """
        cfg = dict(test_cfg.get('cam_generator') or DEFAULT_CAM_GENERATOR)
        shared = {k: v for k, v in test_cfg.items() if k not in OWN_TEST_KEYS}
        if shared.pop('cam_dir', None) is not None:
            raise ValueError(
                'model.test_cfg.cam_dir is gone: CAM files are written by '
                "CAMFileHook (default_hooks.cam_file=dict(type='CAMFileHook',"
                ' out_dir=...))')
        both = sorted(set(shared) & set(cfg))
        if both:
            raise ValueError(
                f'model.test_cfg and model.test_cfg.cam_generator both set '
                f'{both}: set each in one place')
        try:
            generator = MODELS.build(cfg, default_args=shared)
        except KeyError as e:
            raise KeyError(f'model.test_cfg.cam_generator: {e}') from e
        if not isinstance(generator, BaseCAMGenerator):
            raise TypeError(
                f'model.test_cfg.cam_generator: {cfg["type"]!r} is not a CAM '
                f'generator (a {BaseCAMGenerator.__name__}), e.g. '
                "'MultiScaleCAM' or 'AdvCAM'")
        return generator

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
        ``high_res_cam`` from :attr:`cam_generator` (built from
        ``test_cfg``), so ``forward(mode='predict')`` and ``test_step`` give
        CAMs to any caller; the files are written by
        :class:`mmc2am.engine.CAMFileHook`. Without data samples there are
        no classes to take CAMs of: the prediction is then the
        classification (``pred_score``), as in ``'cls'`` mode.
        """
        if self.test_cfg['mode'] != 'cam' or data_samples is None:
            return super().predict(inputs, data_samples, **kwargs)
        # each generator sets its own grad mode: AdvCAM needs input
        # gradients under the test loop's no_grad
        return self.cam_generator(self, inputs, data_samples)
