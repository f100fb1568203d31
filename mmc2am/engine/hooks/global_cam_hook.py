"""Compute C2AM's global CAM before training (and optionally every N steps).

The global CAM of class ``c`` is the mean, over the training images that
contain ``c``, of the image's CAM of ``c`` at ``S x S`` divided by its max, as
in the reference (C2AM's ``make_square_cam.py``: each scale's map is resized
straight to ``S x S`` (aspect ratio ignored), the scales summed, then each
class divided by its max). It is the
``sum_{x_z} P(Y|X=x_z, Z=z) P(X=x_z)`` term of the front-door adjustment and
is stored in the head's ``global_cam`` buffer, so it is saved in and restored
from checkpoints.
"""
import copy
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import Compose
from mmengine.dist import all_reduce, is_main_process
from mmengine.runner import Runner

from mmc2am.cam.cam_inference import inference_cam_fn
from mmc2am.cam.multi_scale import multi_scale_cam, normalize_cams, square_cam
from mmc2am.registry import HOOKS
from mmc2am.utils.io import atomic_open

from .head_buffer_hook import HeadBufferHook

DEFAULT_PIPELINE = (dict(type='LoadImageFromFile'),
                    dict(type='mmpretrain.PackInputs'))
CAM_RESOLUTIONS = ('square', 'high_res', 'strided')


@HOOKS.register_module()
class GlobalCAMHook(HeadBufferHook):
    """Fill ``model.head.global_cam`` with the per-class mean CAM.

    Before training, unless the head already holds a global CAM (restored by
    ``--resume`` or ``load_from`` from a checkpoint that has one), the hook
    either loads ``global_cam_file`` or runs the current model in eval mode,
    without gradient, over the training images without augmentation (its own
    loader: the train dataset with ``pipeline``, batch 1, ``DefaultSampler``
    with ``shuffle=False, round_up=False`` so no image is counted twice
    across ranks). For each image it takes the multi-scale (+ flip) CAMs of
    the image's ground-truth classes at ``S x S`` (see ``cam_resolution``),
    each divided by (its max + 1e-5), and adds them to the class sums. Sums,
    counts and the image count are summed over ranks with
    ``mmengine.dist.all_reduce`` so every rank sets the same map.

    C2AM fine-tunes a *trained* plain-CAM classifier, and a global CAM of
    random weights is meaningless, so before the pass the hook checks that
    the run starts from trained weights: ``load_from`` is set and holds the
    head's weights (``head.conv.weight``). ``allow_untrained=True`` lifts the
    check for users who mean it (the generated-data tests do). The pass
    refuses a degenerate result: no image at all, or a class present in the
    labels whose maps are all zero (the loss would then sit at log 2).

    Rank 0 writes ``global_cam.npy`` (C x S x S float32) and
    ``global_cam.png`` (a grid of the C maps titled by class name) into
    ``runner.work_dir`` and sends the grid to the runner's visualizer.

    Args:
        scales (Sequence[float]): CAM scales. Defaults to IRN's
            ``(1.0, 0.5, 1.5, 2.0)``; C2AM's configs use its reference
            ``(1.0, 0.5, 1.5, 2.0, 2.5, 3.0)``.
        flip (bool): Add each scale's horizontal flip. Defaults to True.
        reduce (str): ``'by_class'``: divide each class sum by the number of
            images containing the class (the formula's ``P(X=x_z)`` over the
            images of ``z``); ``'all'``: by the number of images (absent
            classes count as zeros). The reference loads a precomputed file
            and had code for both; ``'by_class'`` is the default because it
            is the paper's formula. Defaults to 'by_class'.
        cam_resolution (str): How an image's CAM reaches ``S x S``:
            ``'square'``: the reference, each scale's feature-level map
            resized straight to ``S x S``, summed, normalised
            (:func:`mmc2am.cam.multi_scale.square_cam`); ``'high_res'`` /
            ``'strided'``: the normalised multi-scale CAM at image size /
            stride 4 (:func:`multi_scale_cam`, IRN's seeds) resized to
            ``S x S``. Defaults to 'square'.
        interval (int): Also recompute every ``interval`` epochs (or
            iterations with ``by_epoch=False``); 0 = only before training
            (the reference). Defaults to 0.
        by_epoch (bool): Unit of ``interval``. Defaults to True.
        global_cam_file (str, optional): A precomputed ``.npy`` (C x H x W)
            to load instead of the first pass. Defaults to None.
        pipeline (Sequence[dict]): Test pipeline for the pass (mmpretrain
            transforms). Defaults to load + pack (original image size).
        dataset (dict, optional): Dataset config to use instead of the train
            dataset (its ``pipeline`` is replaced by ``pipeline``).
        num_workers (int): Loader workers. Defaults to 2.
        fuse_bn (bool): Run the pass on a copy of the model with its (eval
            mode) BatchNorm folded into the convolutions
            (:func:`mmc2am.cam.cam_inference.inference_cam_fn`: same maps up
            to float rounding, faster on CPU). Defaults to True.
        out_name (str): Stem of the files written. Defaults to 'global_cam'.
        allow_untrained (bool): Compute the global CAM even when the run
            does not start from trained classifier weights. Defaults to False.
    """

    head_setter = 'set_global_cam'
    head_kind = 'CausalCAMHead'

    def __init__(self,
                 scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
                 flip: bool = True,
                 reduce: str = 'by_class',
                 cam_resolution: str = 'square',
                 interval: int = 0,
                 by_epoch: bool = True,
                 global_cam_file: Optional[str] = None,
                 pipeline: Sequence[dict] = DEFAULT_PIPELINE,
                 dataset: Optional[dict] = None,
                 num_workers: int = 2,
                 fuse_bn: bool = True,
                 out_name: str = 'global_cam',
                 allow_untrained: bool = False) -> None:
        if reduce not in ('by_class', 'all'):
            raise ValueError(f"reduce must be 'by_class' or 'all', got {reduce!r}")
        if cam_resolution not in CAM_RESOLUTIONS:
            raise ValueError(f'cam_resolution must be one of '
                             f'{CAM_RESOLUTIONS}, got {cam_resolution!r}')
        self.scales = tuple(scales)
        self.flip = flip
        self.reduce = reduce
        self.cam_resolution = cam_resolution
        super().__init__(interval=interval, by_epoch=by_epoch)
        self.global_cam_file = global_cam_file
        self.pipeline = [dict(t) for t in pipeline]
        self.dataset = dataset
        self.num_workers = num_workers
        self.fuse_bn = fuse_bn
        self.out_name = out_name
        self.allow_untrained = allow_untrained
        # Number of passes over the data run by this hook (tests count them).
        self.num_passes = 0

    # ------------------------------------------------------------------ #
    # hook points
    # ------------------------------------------------------------------ #
    def before_train(self, runner: Runner) -> None:
        # Runner.train() calls load_or_resume() before the loop's
        # before_train, so a resumed buffer is already in place here.
        head = self._head(runner)
        if head.has_global_cam:
            runner.logger.info(
                'GlobalCAMHook: the model already holds a global CAM '
                '(restored from a checkpoint); not recomputing it.')
            return
        if self.global_cam_file is not None:
            g = np.load(self.global_cam_file)
            head.set_global_cam(torch.from_numpy(g).float())
            runner.logger.info(f'GlobalCAMHook: loaded {self.global_cam_file} '
                               f'{tuple(g.shape)}')
            classes = self._class_names(runner.train_dataloader,
                                        head.num_classes)
            self._write_outputs(runner, head.global_cam.cpu().numpy(), classes)
            return
        if not self.allow_untrained:
            self._check_trained_start(runner)
        self.compute(runner)

    @staticmethod
    def _check_trained_start(runner: Runner) -> None:
        """Refuse to fine-tune (and average CAMs of) untrained weights."""
        hint = ('C2AM fine-tunes a trained plain-CAM classifier: set '
                'load_from to its checkpoint (e.g. work_dirs/cam_r50_voc/'
                'epoch_5.pth), or GlobalCAMHook(allow_untrained=True) if you '
                'mean to start from these weights')
        load_from = runner._load_from
        if not load_from:
            raise RuntimeError(f'GlobalCAMHook: load_from is not set. {hint}')
        from mmengine.runner.checkpoint import _load_checkpoint
        ckpt = _load_checkpoint(load_from, map_location='cpu')
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
        if not any(k.endswith('head.conv.weight') for k in state):
            raise RuntimeError(
                f'GlobalCAMHook: {load_from} holds no CAM classifier head '
                f'weights (head.conv.weight); is it an IRN or segmenter '
                f'checkpoint? {hint}')


    def _build_loader(self, runner: Runner):
        from mmc2am.registry import DATASETS, TRANSFORMS
        if self.dataset is not None:
            dataset = DATASETS.build(copy.deepcopy(self.dataset))
        else:
            dataset = runner.train_dataloader.dataset
            # Unwrap RepeatDataset / ClassBalancedDataset and the like.
            while not hasattr(dataset, 'pipeline') and hasattr(
                    dataset, 'dataset'):
                dataset = dataset.dataset
            if not hasattr(dataset, 'pipeline'):
                raise TypeError(
                    f'GlobalCAMHook cannot take the images of a '
                    f'{type(dataset).__name__}; pass dataset=dict(...)')
            # A shallow copy shares the (serialised) data list; only the
            # pipeline differs from the training one.
            dataset = copy.copy(dataset)
        dataset.pipeline = Compose(
            [TRANSFORMS.build(copy.deepcopy(t)) for t in self.pipeline])
        return runner.build_dataloader(
            dict(
                dataset=dataset,
                sampler=dict(
                    type='DefaultSampler', shuffle=False, round_up=False),
                batch_size=1,
                num_workers=self.num_workers,
                persistent_workers=False))

    @torch.no_grad()
    def compute(self, runner: Runner) -> torch.Tensor:
        """Run the pass, set the head's buffer, write the files.

        Returns:
            Tensor: The (C, S, S) global CAM.
        """
        model = self._model(runner)
        head = self._head(runner)
        C, S = head.num_classes, head.global_cam_size
        loader = self._build_loader(runner)
        device = head.global_cam.device
        sums = torch.zeros(C, S, S, dtype=torch.float64, device=device)
        counts = torch.zeros(C, dtype=torch.float64, device=device)
        num_images = torch.zeros(1, dtype=torch.float64, device=device)
        runner.logger.info(
            f'GlobalCAMHook: computing the global CAM over {len(loader)} '
            f'images on this rank (scales {self.scales}, flip {self.flip}, '
            f'reduce {self.reduce!r})')

        was_training = model.training
        model.eval()
        try:
            forward_cam = inference_cam_fn(model, fuse_bn=self.fuse_bn)
            for data in loader:
                data = model.data_preprocessor(data, False)
                for img, sample in zip(data['inputs'], data['data_samples']):
                    h, w = sample.img_shape[:2]  # drop any batch padding
                    img = img[None, :, :h, :w]
                    keys = sample.gt_label.long().to(device)
                    num_images += 1
                    if keys.numel() == 0:
                        continue
                    cam = self._square_cam(forward_cam, img, keys, S)
                    sums.index_add_(0, keys, cam.double())
                    counts.index_add_(
                        0, keys, torch.ones_like(keys, dtype=torch.float64))
        finally:
            model.train(was_training)

        for t in (sums, counts, num_images):
            all_reduce(t, op='sum')
        if self.reduce == 'by_class':
            denom = counts.clamp(min=1.0)[:, None, None]
        else:
            denom = num_images.clamp(min=1.0)[:, None, None]
        global_cam = (sums / denom).float()

        classes = self._class_names(loader, C)
        self._check_degenerate(loader, global_cam, counts, num_images,
                               classes)
        absent = [classes[i] for i in torch.nonzero(counts == 0).flatten()]
        if absent:
            runner.logger.warning(
                f'GlobalCAMHook: no training image holds {absent}; their '
                'global CAM is zeros')
        head.set_global_cam(global_cam)
        self.num_passes += 1
        runner.logger.info(
            f'GlobalCAMHook: pass {self.num_passes} done over '
            f'{int(num_images.item())} images; images per class '
            f'{dict(zip(classes, counts.long().tolist()))}')
        self._write_outputs(runner, global_cam.cpu().numpy(), classes)
        return global_cam

    def _square_cam(self, forward_cam, img: torch.Tensor, keys: torch.Tensor,
                    size: int) -> torch.Tensor:
        """(K, S, S) max-normalised CAMs of one image's classes ``keys``."""
        if self.cam_resolution == 'square':
            return square_cam(forward_cam, img, keys, size, self.scales,
                              self.flip)
        strided, high_res = multi_scale_cam(forward_cam, img, self.scales,
                                            self.flip)
        cam = high_res if self.cam_resolution == 'high_res' else strided
        cam = normalize_cams(cam[0, keys])
        return F.interpolate(
            cam[None], size=(size, size), mode='bilinear',
            align_corners=False)[0]

    @staticmethod
    def _check_degenerate(loader, global_cam: torch.Tensor,
                          counts: torch.Tensor, num_images: torch.Tensor,
                          classes: List[str]) -> None:
        """Refuse a global CAM that would make the adjusted loss constant."""
        source = getattr(loader.dataset, 'ann_file', '') or type(
            loader.dataset).__name__
        if num_images.item() == 0:
            raise RuntimeError(
                f'GlobalCAMHook: the pass saw no image ({source}); check the '
                'train dataset (ann_file, data_root) or the hook\'s dataset')
        flat = global_cam.flatten(1).max(dim=1).values
        dead = [classes[i] for i in range(len(classes))
                if counts[i] > 0 and flat[i] <= 0]
        if dead:
            raise RuntimeError(
                f'GlobalCAMHook: the CAMs of {dead} are all zero on every '
                f'image of {source} that holds them, so their adjusted scores '
                'would be constant; load trained classifier weights '
                '(load_from) before the C2AM fine-tuning')

    # ------------------------------------------------------------------ #
    # outputs
    # ------------------------------------------------------------------ #
    @staticmethod
    def _class_names(loader, num_classes: int) -> List[str]:
        classes = getattr(loader.dataset, 'metainfo', {}).get('classes')
        if classes is None or len(classes) != num_classes:
            classes = [str(i) for i in range(num_classes)]
        return list(classes)

    def _write_outputs(self,
                       runner: Runner,
                       global_cam: np.ndarray,
                       classes: Optional[List[str]] = None) -> None:
        if not is_main_process():
            return
        if classes is None:
            classes = [str(i) for i in range(global_cam.shape[0])]
        npy = osp.join(runner.work_dir, self.out_name + '.npy')
        with atomic_open(npy, 'wb') as f:
            np.save(f, global_cam.astype(np.float32))
        png = osp.join(runner.work_dir, self.out_name + '.png')
        grid = render_grid(global_cam, classes)
        with atomic_open(png, 'wb') as f:
            f.write(grid[0])
        try:
            runner.visualizer.add_image(
                self.out_name, grid[1], step=self.num_passes)
        except Exception as e:  # a backend without images must not stop training
            runner.logger.warning(f'GlobalCAMHook: visualizer: {e}')
        runner.logger.info(f'GlobalCAMHook: wrote {npy} and {png}')


def render_grid(maps: np.ndarray, titles: Sequence[str]):
    """A grid picture of (C, S, S) maps, one titled panel per class.

    Returns:
        tuple[bytes, np.ndarray]: PNG bytes and the (H, W, 3) uint8 RGB image.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    C = maps.shape[0]
    cols = min(C, 5)
    rows = (C + cols - 1) // cols
    fig = Figure(figsize=(2.0 * cols, 2.2 * rows), dpi=80)
    canvas = FigureCanvasAgg(fig)
    vmax = max(float(maps.max()), 1e-6)
    for i in range(C):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(maps[i], cmap='jet', vmin=0.0, vmax=vmax)
        ax.set_title(f'{titles[i]} ({maps[i].mean():.2f})', fontsize=8)
        ax.axis('off')
    fig.tight_layout()
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    return buf.getvalue(), rgb


__all__ = ['GlobalCAMHook', 'render_grid']
