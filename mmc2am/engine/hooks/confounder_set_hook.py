"""Build CONTA's confounder set from the mask stage's pseudo-masks.

The confounder set is one feature vector per (foreground) class: the mean
of the backbone's last feature map over the pixels of that class in the
pseudo-masks of the training images. It is the dictionary ``D`` of
:class:`~mmc2am.models.heads.CONTAHead`'s backdoor adjustment, stored in the
head's ``confounder_set`` buffer (saved in and restored from checkpoints).

For image ``j`` with features ``f_j`` (K, h, w) and pseudo-mask ``y_j``
(H, W) (0 background, ``1..C`` classes, 255 ignore), the mask is taken to
the feature size by nearest neighbour, ``m_j[r, s] = y_j[r * H // h,
s * W // w]`` (PyTorch's ``'nearest'``), and with ``P_ij`` the feature
pixels of class ``i`` (label ``i + 1``) in ``m_j``:

- ``reduce='image'`` (default): ``d_i = mean_{j: P_ij != {}} mean_{p in
  P_ij} f_j[:, p]``, the mean over the images holding the class of the
  per-image masked means (CONTA's "average ... of the i-th class images";
  VC R-CNN, whose dictionary code CONTA's ``m_t.py`` reuses, averages one
  pooled feature per object);
- ``reduce='pixel'``: ``d_i = sum_j sum_{p in P_ij} f_j[:, p] / sum_j
  |P_ij|``, the mean over every pixel of the class.

Background (0) and ignored (255) pixels never enter a mean. A class with no
pixel at feature resolution in any image keeps a zero row, with a warning
naming it.
"""
import copy
import json
import os.path as osp
import warnings
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.dataset import Compose
from mmengine.dist import all_reduce, is_main_process
from mmengine.runner import Runner

from mmc2am.registry import HOOKS
from mmc2am.utils.io import atomic_open
from mmc2am.utils.mask_files import (
    check_label_values,
    first_ids,
    load_label_png,
)

from .head_buffer_hook import HeadBufferHook

DEFAULT_PIPELINE = (dict(type='LoadImageFromFile'),
                    dict(type='mmpretrain.PackInputs'))
REDUCES = ('image', 'pixel')


def nearest_indices(size_in: int, size_out: int) -> torch.Tensor:
    """Source indices of a nearest-neighbour resize, ``i * in // out``."""
    return torch.arange(size_out) * size_in // size_out


@HOOKS.register_module()
class ConfounderSetHook(HeadBufferHook):
    """Fill ``model.head.confounder_set`` with class-wise masked mean features.

    Before training, unless the head already holds a set (restored by
    ``--resume`` or ``load_from``), the hook runs the model's backbone in eval
    mode, without gradient, over the training images without augmentation
    (its own loader: the train dataset with ``pipeline``, batch 1,
    ``DefaultSampler(shuffle=False, round_up=False)``), reads each image's
    pseudo-mask ``<mask_dir>/<image stem><mask_suffix>`` and accumulates the
    class-wise masked means of the last feature map (module docstring). Sums
    and counts are summed over ranks, so every rank sets the same buffer.
    Rank 0 writes ``<out_name>.npy`` (C x K float32) and ``<out_name>.json``
    (images and feature pixels per class) into ``runner.work_dir``.

    One CONTA round is one training run: the classifier, its pseudo-masks
    (CRF or IRN stage), then the next run with ``mask_dir`` set to them.
    ``interval`` recomputes the set from the same masks with the current
    backbone during a run (its features drift while it trains).

    Args:
        mask_dir (str): Folder of the pseudo-masks (VOC palette or grey PNG
            label maps as the mask stages write and ``PseudoMaskDataset``
            reads; relative to the current folder). Each mask must have its
            image's size.
        reduce (str): ``'image'`` or ``'pixel'`` (module docstring).
            Defaults to 'image'.
        interval (int): Recompute every ``interval`` epochs (iterations with
            ``by_epoch=False``); 0 = only before training. Defaults to 0.
        by_epoch (bool): Unit of ``interval``. Defaults to True.
        mask_suffix (str): Defaults to '.png'.
        ignore_index (int): Mask value that is no class. Defaults to 255.
        pipeline (Sequence[dict]): Pipeline of the pass (mmpretrain
            transforms, no resizing: the masks are at image size). Defaults to
            load + pack.
        dataset (dict, optional): Dataset config to use instead of the train
            dataset (its ``pipeline`` is replaced by ``pipeline``).
        num_workers (int): Loader workers. Defaults to 0.
        out_name (str): Stem of the files written. Defaults to
            'confounder_set'.
    """

    head_setter = 'set_confounder_set'
    head_kind = 'CONTAHead'

    def __init__(self,
                 mask_dir: str,
                 reduce: str = 'image',
                 interval: int = 0,
                 by_epoch: bool = True,
                 mask_suffix: str = '.png',
                 ignore_index: int = 255,
                 pipeline: Sequence[dict] = DEFAULT_PIPELINE,
                 dataset: Optional[dict] = None,
                 num_workers: int = 0,
                 out_name: str = 'confounder_set') -> None:
        if reduce not in REDUCES:
            raise ValueError(f'reduce must be one of {REDUCES}, got {reduce!r}')
        self.mask_dir = mask_dir
        self.reduce = reduce
        super().__init__(interval=interval, by_epoch=by_epoch)
        self.mask_suffix = mask_suffix
        self.ignore_index = ignore_index
        self.pipeline = [dict(t) for t in pipeline]
        self.dataset = dataset
        self.num_workers = num_workers
        self.out_name = out_name
        self.num_passes = 0

    # ------------------------------------------------------------------ #
    # hook points
    # ------------------------------------------------------------------ #
    def before_train(self, runner: Runner) -> None:
        # Runner.train() loads / resumes before the loop's before_train.
        head = self._head(runner)
        if head.has_confounder_set:
            runner.logger.info(
                'ConfounderSetHook: the model already holds a confounder set '
                '(restored from a checkpoint); not recomputing it.')
            return
        if not runner._load_from:
            runner.logger.warning(
                'ConfounderSetHook: load_from is not set: the confounder set '
                'is computed with the initial backbone')
        self.compute(runner)


    def _base_dataset(self, runner: Runner):
        from mmc2am.registry import DATASETS
        if self.dataset is not None:
            return DATASETS.build(copy.deepcopy(self.dataset))
        dataset = runner.train_dataloader.dataset
        while not hasattr(dataset, 'pipeline') and hasattr(dataset, 'dataset'):
            dataset = dataset.dataset  # RepeatDataset and the like
        if not hasattr(dataset, 'pipeline'):
            raise TypeError(f'ConfounderSetHook cannot take the images of a '
                            f'{type(dataset).__name__}; pass dataset=dict(...)')
        return copy.copy(dataset)  # shares the data list, not the pipeline

    def mask_path(self, img_path: str) -> str:
        """The pseudo-mask file of an image."""
        stem = osp.splitext(osp.basename(img_path))[0]
        return osp.join(self.mask_dir, stem + self.mask_suffix)

    def _check_masks_exist(self, dataset) -> None:
        """FileNotFoundError naming the missing masks, before the pass."""
        paths = [
            self.mask_path(dataset.get_data_info(i)['img_path'])
            for i in range(len(dataset))
        ]
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f'ConfounderSetHook: {len(missing)} of {len(paths)} training '
                f'images have no pseudo-mask: {first_ids(missing)} (mask_dir '
                f'{self.mask_dir!r})')

    def _read_mask(self, path: str, size, num_classes: int) -> np.ndarray:
        mask = load_label_png(path)  # errors name the file
        if tuple(mask.shape) != tuple(size):
            raise ValueError(f'{path}: mask of size {tuple(mask.shape)}, its '
                             f'image is {tuple(size)}')
        check_label_values(mask, path, num_classes + 1, self.ignore_index)
        return mask

    @torch.no_grad()
    def compute(self, runner: Runner) -> torch.Tensor:
        """Run the pass, set the head's buffers, write the files.

        Returns:
            Tensor: The (C, K) confounder set.
        """
        from mmc2am.registry import TRANSFORMS
        model = self._model(runner)
        head = self._head(runner)
        C, K = head.num_classes, head.in_channels
        dataset = self._base_dataset(runner)
        self._check_masks_exist(dataset)
        dataset.pipeline = Compose(
            [TRANSFORMS.build(copy.deepcopy(t)) for t in self.pipeline])
        loader = runner.build_dataloader(
            dict(
                dataset=dataset,
                sampler=dict(
                    type='DefaultSampler', shuffle=False, round_up=False),
                batch_size=1,
                num_workers=self.num_workers,
                persistent_workers=False))
        device = head.confounder_set.device
        sums = torch.zeros(C, K, dtype=torch.float64, device=device)
        img_counts = torch.zeros(C, dtype=torch.float64, device=device)
        pix_counts = torch.zeros(C, dtype=torch.float64, device=device)
        runner.logger.info(
            f'ConfounderSetHook: class-wise masked mean features over '
            f'{len(loader)} images on this rank (masks {self.mask_dir}, '
            f'reduce {self.reduce!r})')

        was_training = model.training
        model.eval()
        try:
            for data in loader:
                data = model.data_preprocessor(data, False)
                for img, sample in zip(data['inputs'], data['data_samples']):
                    H, W = sample.img_shape[:2]
                    path = self.mask_path(sample.img_path)
                    mask = self._read_mask(path, (H, W), C)
                    feats = model.extract_feat(img[None, :, :H, :W])
                    f = feats[-1] if isinstance(feats, (tuple, list)) else feats
                    if f.shape[1] != K:
                        raise ValueError(
                            f'the backbone gives {f.shape[1]} channels, the '
                            f'head expects {K}')
                    self._accumulate(f[0].double(), mask, sums, img_counts,
                                     pix_counts)
        finally:
            model.train(was_training)

        for t in (sums, img_counts, pix_counts):
            all_reduce(t, op='sum')
        denom = img_counts if self.reduce == 'image' else pix_counts
        confounder_set = (sums / denom.clamp(min=1.0)[:, None]).float()

        classes = self._class_names(dataset, C)
        absent = [classes[i] for i in range(C) if pix_counts[i] == 0]
        if absent:
            msg = (f'ConfounderSetHook: no pixel of {absent} in the '
                   f'pseudo-masks of {self.mask_dir} (at feature resolution); '
                   'their confounder-set rows are zeros')
            runner.logger.warning(msg)
            warnings.warn(msg, stacklevel=2)
        head.set_confounder_set(confounder_set, img_counts.float().cpu())
        self.num_passes += 1
        runner.logger.info(
            f'ConfounderSetHook: pass {self.num_passes} done; images per '
            f'class {dict(zip(classes, img_counts.long().tolist()))}')
        self._write_outputs(runner, confounder_set, classes, img_counts,
                            pix_counts)
        return confounder_set

    def _accumulate(self, f: torch.Tensor, mask: np.ndarray,
                    sums: torch.Tensor, img_counts: torch.Tensor,
                    pix_counts: torch.Tensor) -> None:
        """Add one image's class-wise feature sums / means, (K, h, w) ``f``."""
        K, h, w = f.shape
        H, W = mask.shape
        rows = nearest_indices(H, h)
        cols = nearest_indices(W, w)
        small = torch.from_numpy(mask[rows][:, cols].astype(np.int64)).to(
            f.device)
        flat = f.reshape(K, -1)
        labels = small.flatten()
        C = sums.shape[0]
        for label in torch.unique(labels).tolist():
            if label < 1 or label > C:  # background, ignore
                continue
            sel = labels == label
            n = int(sel.sum())
            total = flat[:, sel].sum(dim=1)
            i = label - 1
            if self.reduce == 'image':
                sums[i] += total / n
            else:
                sums[i] += total
            img_counts[i] += 1
            pix_counts[i] += n

    # ------------------------------------------------------------------ #
    # outputs
    # ------------------------------------------------------------------ #
    @staticmethod
    def _class_names(dataset, num_classes: int) -> List[str]:
        classes = getattr(dataset, 'metainfo', {}).get('classes')
        if classes is None or len(classes) != num_classes:
            classes = [str(i) for i in range(num_classes)]
        return list(classes)

    def _write_outputs(self, runner: Runner, confounder_set: torch.Tensor,
                       classes: List[str], img_counts: torch.Tensor,
                       pix_counts: torch.Tensor) -> None:
        if not is_main_process():
            return
        npy = osp.join(runner.work_dir, self.out_name + '.npy')
        with atomic_open(npy, 'wb') as f:
            np.save(f, confounder_set.cpu().numpy().astype(np.float32))
        info = dict(
            mask_dir=self.mask_dir,
            reduce=self.reduce,
            images_per_class=dict(zip(classes, img_counts.long().tolist())),
            pixels_per_class=dict(zip(classes, pix_counts.long().tolist())))
        with atomic_open(osp.join(runner.work_dir, self.out_name + '.json'),
                         'w') as f:
            json.dump(info, f, indent=2)
        runner.logger.info(f'ConfounderSetHook: wrote {npy}')


__all__ = ['ConfounderSetHook', 'nearest_indices']
