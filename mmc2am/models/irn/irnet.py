"""IRNet's class-boundary branch (Ahn et al., CVPR 2019), as an mmseg model.

The reference (``net/resnet50_irn.py``) reads five levels of a frozen
ImageNet ResNet-50 with output stride 16 (stem, ``layer1`` .. ``layer4``), maps
each to 32 channels (1x1 conv without bias, GroupNorm(4), upsampling to
stride 4 for the deeper levels, ReLU), concatenates them and predicts one
boundary logit per stride-4 cell with a 1x1 conv. The boundary probability
``b = sigmoid(logit)`` gives the affinity ``1 - max(b along the path)`` of
every pair of cells closer than the path radius (10 at training,
:class:`mmc2am.cam.path_index.PathIndex`), trained against the relation
labels of the confident pseudo-mask:

- positive pairs (same label), split into background and foreground:
  ``-log(aff + 1e-5)``, each averaged over its pairs;
- negative pairs (different labels): ``-log(1 + 1e-5 - aff)``;
- ``loss = (bg / 2 + fg / 2 + neg) / 2``, reported as ``loss_bg_pos``
  (``bg / 4``), ``loss_fg_pos`` (``fg / 4``) and ``loss_neg`` (``neg / 2``).

The displacement branch of the reference (instance segmentation) is left out:
it shares no trainable parameter with the boundary branch, so the semantic
pseudo-masks do not depend on it.

At test time the boundary map is the flip-averaged logit through a sigmoid,
on the image zero-padded (after normalisation) to ``test_pad_size`` as IRN's
``EdgeDisplacement`` does (512 for VOC), cropped to ``ceil(H/4) x ceil(W/4)``.
With ``test_cfg`` (the random-walk stage, ``tools/test.py`` on an
``irn_*`` config) each image's stride-4 CAMs are then walked on that map
(IRN's ``make_sem_seg_labels``, :func:`mmc2am.cam.random_walk
.random_walk_scores`) and labelled against the background score ``bg_thr``.
"""
import hashlib
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor

from mmc2am.cam.path_index import PathIndex
from mmc2am.cam.random_walk import random_walk_scores, scores_to_labels
from mmc2am.registry import MODELS

# IRN's random walk (run_sample.py): radius 5, beta 10, 2^8 steps, on the
# CAMs as they are (cam_power 1; AdvCAM walks cam ** 1.5); the background
# score is the method's (IRN 0.25, C2AM 0.20) and has no default.
RANDOM_WALK_DEFAULTS = dict(
    radius=5, beta=10, exp_times=8, bg_thr=None, cam_power=1.0)

__all__ = ['IRNet']


class BoundaryLevel(nn.Sequential):
    """One level of the boundary branch: 1x1 conv, GroupNorm, upsample, ReLU.

    The order (upsampling before the ReLU) is the reference's.

    Args:
        in_channels (int): Channels of the backbone level.
        channels (int): Output channels (32 in IRN).
        num_groups (int): GroupNorm groups (4 in IRN).
        scale (int): Upsampling factor to stride 4 (1: none).
    """

    def __init__(self, in_channels: int, channels: int, num_groups: int,
                 scale: int):
        layers = [
            nn.Conv2d(in_channels, channels, 1, bias=False),
            nn.GroupNorm(num_groups, channels)
        ]
        if scale > 1:
            layers.append(
                nn.Upsample(
                    scale_factor=scale, mode='bilinear',
                    align_corners=False))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


@MODELS.register_module()
class IRNet(BaseModel):
    """Inter-pixel relation network: class boundaries from relation labels.

    Args:
        backbone (dict): A ResNet of mmseg or mmpretrain (anything with
            ``conv1``/``norm1``/``relu`` or ``stem``, ``maxpool`` and
            ``res_layers``), output stride 16 (``strides=(1, 2, 2, 1)``).
            It is frozen: no gradient, BatchNorm in eval mode.
        in_channels (Sequence[int]): Channels of the stem output and of each
            ResNet stage, e.g. ``(64, 256, 512, 1024, 2048)`` for ResNet-50,
            ``(64, 64, 128, 256, 512)`` for ResNet-18.
        in_strides (Sequence[int]): Their strides; each level is upsampled
            to the first one's (4).
        channels (int): Channels per level in the branch (IRN: 32).
        num_groups (int): GroupNorm groups (IRN: 4).
        radius (float): Path radius of the training pairs (IRN: 10).
        num_classes (int): Labels of the relation maps, background
            included (21 for VOC); larger labels are ignored.
        ignore_index (int): Ignored label of the relation maps.
        test_pad_size (int, optional): At test time, images are zero-padded
            (after normalisation) at the bottom/right to at least this size
            (IRN: its crop size 512). None: no padding.
        test_flip (bool): Average the logits of the image and its mirror.
        test_cfg (dict, optional): The random walk of :meth:`predict` on
            samples that carry CAMs: ``radius`` (5), ``beta`` (10),
            ``exp_times`` (8), ``bg_thr`` (required: IRN 0.25, C2AM
            0.20) and ``cam_power`` (1: the CAMs as they are; AdvCAM 1.5,
            the walk on ``cam ** 1.5``). None: boundary maps only.
        data_preprocessor (dict, optional): ``SegDataPreProcessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 in_channels: Sequence[int] = (64, 256, 512, 1024, 2048),
                 in_strides: Sequence[int] = (4, 4, 8, 16, 16),
                 channels: int = 32,
                 num_groups: int = 4,
                 radius: float = 10,
                 num_classes: int = 21,
                 ignore_index: int = 255,
                 test_pad_size: Optional[int] = None,
                 test_flip: bool = True,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.test_cfg = None
        if test_cfg is not None:
            unknown = sorted(set(test_cfg) - set(RANDOM_WALK_DEFAULTS))
            if unknown:
                # a misspelt --cfg-options key would be silently ignored
                raise KeyError(f'unknown test_cfg keys {unknown}; valid: '
                               f'{sorted(RANDOM_WALK_DEFAULTS)}')
            self.test_cfg = dict(RANDOM_WALK_DEFAULTS, **test_cfg)
        self._walk_index = None  # PathIndex of the walk's radius, lazily
        self._weights_digest = None
        if len(in_channels) != len(in_strides):
            raise ValueError('in_channels and in_strides differ in length')
        self.backbone = MODELS.build(backbone)
        for name in ('maxpool', 'res_layers'):
            if not hasattr(self.backbone, name):
                raise TypeError(f'{type(self.backbone).__name__} is not a '
                                f'ResNet-like backbone (no {name})')
        # IRN never trains the backbone (its features are .detach()ed)
        self.backbone.requires_grad_(False)
        out_stride = in_strides[0]
        self.edge_levels = nn.ModuleList([
            BoundaryLevel(c, channels, num_groups, s // out_stride)
            for c, s in zip(in_channels, in_strides)
        ])
        self.edge_out = nn.Conv2d(channels * len(in_channels), 1, 1)
        self.out_stride = out_stride
        self.path_index = PathIndex(radius)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.test_pad_size = test_pad_size
        self.test_flip = test_flip

    def train(self, mode: bool = True) -> 'IRNet':
        """Set the mode; the frozen backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    # ---------------------------------------------------------------- network
    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Stem output and the four stage outputs of the frozen backbone."""
        bb = self.backbone
        with torch.no_grad():
            if getattr(bb, 'deep_stem', False):
                x = bb.stem(inputs)
            else:
                x = bb.relu(bb.norm1(bb.conv1(inputs)))
            x = bb.maxpool(x)
            feats = [x]
            for name in bb.res_layers:
                x = getattr(bb, name)(x)
                feats.append(x)
        return feats

    def forward_boundary(self, inputs: Tensor) -> Tensor:
        """Boundary logits at stride 4.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.

        Returns:
            Tensor: (B, 1, h, w) logits, ``h x w`` the size of the stem
            output (``ceil(H / 4) x ceil(W / 4)``).
        """
        feats = self.extract_feat(inputs)
        if len(feats) != len(self.edge_levels):
            raise ValueError(f'backbone gave {len(feats)} levels, the '
                             f'branch has {len(self.edge_levels)}')
        h, w = feats[0].shape[-2:]
        # deeper levels are upsampled past the stride-4 size, then cropped
        outs = [
            level(f)[..., :h, :w] for level, f in zip(self.edge_levels, feats)
        ]
        return self.edge_out(torch.cat(outs, dim=1))

    # ------------------------------------------------------------------ train
    def _seg_labels(self, data_samples: List[SegDataSample],
                    size: Tuple[int, int]) -> Tensor:
        """Relation label maps at the boundary map's size.

        IRN shrinks the label crop by 4 with PIL's nearest neighbour, which
        samples pixel centres, as ``nearest-exact`` does.
        """
        seg = torch.stack([s.gt_sem_seg.data for s in data_samples])
        seg = F.interpolate(seg.float(), size=size, mode='nearest-exact')
        return seg[:, 0].long()

    def loss(self, inputs: Tensor,
             data_samples: List[SegDataSample]) -> Dict[str, Tensor]:
        """Inter-pixel affinity loss of IRN (see the module docstring).

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[SegDataSample]): With ``gt_sem_seg``: the
                confident pseudo-masks (0 background, classes, 255 ignore)
                at the size of ``inputs``.

        Returns:
            dict[str, Tensor]: ``loss_bg_pos``, ``loss_fg_pos``, ``loss_neg``.
        """
        # float32 even under AMP: log(aff + 1e-5) needs the precision
        logits = self.forward_boundary(inputs).float()
        edge = torch.sigmoid(logits[:, 0])
        aff = self.path_index.to_affinity(edge, layout='crop')
        seg = self._seg_labels(data_samples, edge.shape[-2:])
        bg_pos, fg_pos, neg = self.path_index.to_pair_labels(
            seg, self.num_classes, self.ignore_index)
        eps = 1e-5
        pos_loss = -torch.log(aff + eps)
        neg_loss = -torch.log(1. + eps - aff)
        bg = (bg_pos * pos_loss).sum() / (bg_pos.sum() + eps)
        fg = (fg_pos * pos_loss).sum() / (fg_pos.sum() + eps)
        ng = (neg * neg_loss).sum() / (neg.sum() + eps)
        return dict(loss_bg_pos=bg / 4, loss_fg_pos=fg / 4, loss_neg=ng / 2)

    # ------------------------------------------------------------------- test
    @torch.no_grad()
    def predict_boundary(
            self,
            inputs: Tensor,
            img_shapes: Optional[Sequence[Tuple[int, int]]] = None
    ) -> List[Tensor]:
        """Class-boundary probabilities of each image, IRN's test protocol.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images (bottom/right
                padded if their sizes differ).
            img_shapes (Sequence[tuple[int, int]], optional): Unpadded
                ``(H_i, W_i)`` of each image; default ``(H, W)``.

        Returns:
            list[Tensor]: (ceil(H_i / 4), ceil(W_i / 4)) maps in [0, 1].
        """
        b, _, h, w = inputs.shape
        if img_shapes is None:
            img_shapes = [(h, w)] * b
        out = []
        for img, (hi, wi) in zip(inputs, img_shapes):
            img = img[None, :, :hi, :wi]
            if self.test_flip:
                img = torch.cat([img, img.flip(-1)])
            if self.test_pad_size is not None:
                ph = max(self.test_pad_size - hi, 0)
                pw = max(self.test_pad_size - wi, 0)
                img = F.pad(img, (0, pw, 0, ph))
            logits = self.forward_boundary(img)[:, 0]
            fh = math.ceil(hi / self.out_stride)
            fw = math.ceil(wi / self.out_stride)
            logits = logits[:, :fh, :fw]
            if self.test_flip:
                logits = (logits[0] + logits[1].flip(-1)) / 2
            else:
                logits = logits[0]
            out.append(torch.sigmoid(logits))
        return out

    def predict(self, inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        """Boundary maps, and with ``test_cfg`` the random-walk masks.

        Every sample gets ``boundary`` (PixelData (1, h, w)). With
        ``test_cfg`` set, a sample that carries ``cam`` (K, h, w) stride-4
        CAMs and ``cam_keys`` (:class:`mmc2am.datasets.CAMFileDataset`) also
        gets ``seg_scores`` (K, H, W), the walked scores (maximum 1), and
        ``pred_sem_seg`` (1, H, W) uint8, their labels against ``bg_thr``.
        Samples whose mask exists (``mask_done``, read back by
        :class:`mmc2am.engine.MaskFileHook`) are skipped.
        """
        shapes = None
        if data_samples is not None:
            shapes = [s.metainfo.get('img_shape', inputs.shape[-2:])
                      for s in data_samples]
        else:
            data_samples = [SegDataSample() for _ in range(len(inputs))]
        # a mask-stage batch: samples with CAMs, or with their mask done
        walk = self.test_cfg is not None and any(
            'cam' in s or s.metainfo.get('mask_done', False)
            for s in data_samples)
        if not walk:
            edges = self.predict_boundary(inputs, shapes)
            for sample, edge in zip(data_samples, edges):
                sample.set_data(dict(boundary=PixelData(data=edge[None])))
            return data_samples
        self._require_bg_thr()
        for i, sample in enumerate(data_samples):
            if sample.metainfo.get('mask_done', False):
                continue
            edge = self.predict_boundary(inputs[i:i + 1], [shapes[i]])[0]
            sample.set_data(dict(boundary=PixelData(data=edge[None])))
            self._walk(sample, edge, tuple(int(v) for v in shapes[i][:2]))
        return data_samples

    def _require_bg_thr(self) -> None:
        """Refuse a walk without the method's background score."""
        if self.test_cfg is None or self.test_cfg['bg_thr'] is None:
            raise ValueError(
                'set model.test_cfg.bg_thr, the background score of the '
                'random walk (IRN / plain CAM: 0.25, C2AM: 0.20), e.g. with '
                'configs/irn/irn_*_{cam,c2am}.py')

    @property
    def mask_params(self) -> dict:
        """The settings the random-walk masks depend on, and a digest of
        the weights (recorded beside the masks by
        :class:`mmc2am.engine.MaskFileHook`).

        Raises:
            ValueError: ``test_cfg.bg_thr`` is not set.
        """
        self._require_bg_thr()
        params = dict(self.test_cfg)
        if params['cam_power'] == 1:
            # masks recorded before the option existed stay reusable
            del params['cam_power']
        if self._weights_digest is None:
            # computed once, after the runner has loaded the checkpoint
            sha = hashlib.sha1()
            for name, t in sorted(self.state_dict().items()):
                sha.update(name.encode())
                sha.update(t.detach().cpu().contiguous().numpy().tobytes())
            self._weights_digest = sha.hexdigest()
        return dict(model=type(self).__name__, **params,
                    test_pad_size=self.test_pad_size,
                    test_flip=self.test_flip, weights=self._weights_digest)

    def _walk(self, sample: SegDataSample, edge: Tensor,
              img_size: Tuple[int, int]) -> None:
        """Walk the sample's stride-4 CAMs on ``edge``, set its scores and
        labels."""
        cfg = self.test_cfg
        if self._walk_index is None:
            self._walk_index = PathIndex(cfg['radius'])
        cams = sample.cam.to(edge.device)
        if cams.shape[0] and tuple(cams.shape[1:]) != tuple(edge.shape):
            # a CAM file made at another size (a resizing test pipeline)
            print_log(f"{sample.metainfo.get('cam_path')}: CAMs of size "
                      f'{tuple(cams.shape[1:])} resized to the stride-4 '
                      f'grid {tuple(edge.shape)}', 'current', level=30)
            cams = F.interpolate(cams[None], size=tuple(edge.shape),
                                 mode='bilinear', align_corners=False)[0]
        scores = random_walk_scores(
            cams, edge, img_size, beta=cfg['beta'],
            exp_times=cfg['exp_times'], radius=cfg['radius'],
            path_index=self._walk_index, cam_power=cfg['cam_power'])
        keys = sample.metainfo['cam_keys']
        labels = scores_to_labels(scores, keys, cfg['bg_thr'])
        sample.set_field(scores.cpu(), 'seg_scores')
        sample.pred_sem_seg = PixelData(data=torch.from_numpy(labels)[None])

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, Tensor], List[SegDataSample], Tensor]:
        """``'loss'``: loss dict; ``'predict'``: boundary maps;
        ``'tensor'``: (B, 1, h, w) boundary logits."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.forward_boundary(inputs)
        raise RuntimeError(f'Invalid mode "{mode}"')
