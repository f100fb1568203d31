"""CAMs, seeds and pseudo-masks of a user's own images, in mmseg's style::

    from mmc2am.apis import CAMInferencer
    inferencer = CAMInferencer('configs/c2am/voc_r50.py', 'epoch_4.pth')
    result = inferencer('my_images/', out_dir='outputs', bg_thr=0.13)

mmengine's ``BaseInferencer`` builds the model, loads the weights, lists
folders, chunks and collates the inputs and dispatches the call's keywords;
what is CAM-specific is here. The CAMs are the seed stage's (``tools/test.py``
in CAM mode: the config's test pipeline and the model's ``test_step``), the
seed :class:`SeedMetric`'s, the pseudo-mask the CRF stage's.
"""
import json
import math
import os.path as osp
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose
from mmengine.infer import BaseInferencer
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import FUNCTIONS, init_default_scope
from mmpretrain.structures import DataSample
from rich.progress import track
from torch import nn

from mmc2am.cam import cam_file_path, save_cam_file
from mmc2am.cam.pseudo_mask import cam_to_pseudo_mask, resize_cams, save_label_png
from mmc2am.registry import DATASETS, TRANSFORMS
from mmc2am.utils.config_files import find_config
from mmc2am.utils.io import atomic_open
from mmc2am.visualization.cam_visualizer import (
    CAMVisualizer,
    foreground_names,
    seed_from_cams,
)

InputType = Union[str, np.ndarray]
InputsType = Union[InputType, Sequence[InputType]]
# Per image: class names or 0-based indices (background excluded).
LabelsType = Union[None, Sequence, Mapping[str, Sequence]]

# Files a folder input is read for (case-insensitive), as mmcv reads them.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp',
                  '.ppm', '.pgm')
# Default score from which a class is predicted, and seed background.
SCORE_THR, BG_THR = 0.5, 0.15
# C2AM's confident-label thresholds (configs/crf/crf_voc_c2am.py; IRN's
# plain CAM uses t_fg=0.30, t_bg=0.05), for ``pseudo_mask=True``.
DEFAULT_PSEUDO_MASK = dict(t_fg=0.375, t_bg=0.10, mode='crf', crf=None)


class CAMInferencer(BaseInferencer):
    """CAMs, seed masks and CRF pseudo-masks of images, with pictures.

    Args:
        model (str | Config | dict): A config file, a config name of any
            ``configs/<algorithm>/`` folder (``'voc_r50'``,
            :func:`mmc2am.utils.find_config`) or a config, whose ``model``
            is a CAM classifier (its ``test_step`` in CAM mode gives CAMs).
        weights (str, optional): Checkpoint; None runs the model as built
            (random init), with a warning.
        classes (Sequence[str], optional): Foreground class names, one per
            model class. Defaults to the checkpoint's
            ``meta.dataset_meta.classes``, else those of the config's test
            dataset type, else ``class <k>``.
        device (str, optional): Device; None picks CUDA when available.
        scope (str, optional): Registry scope. Defaults to the config's
            ``default_scope``, else ``'mmpretrain'``.

    Per image, :meth:`__call__` returns a dict with ``name``, ``img_path``,
    ``labels`` (K,) 0-based classes, ``classes`` (their names),
    ``labels_given``, ``scores`` (C,) sigmoid scores, ``cams`` (K, H, W) and
    ``cams_stride4`` (K, ceil(h/4), ceil(w/4)) max-normalised CAMs, ``seed``
    (H, W) uint8 label ids (0 background, ``k + 1`` class ``k``) and, with
    ``pseudo_mask``, ``pseudo_mask`` (H, W) uint8 (255 = ignore); H, W is
    the size of the image as loaded.
    """

    preprocess_kwargs: set = {'labels'}
    forward_kwargs: set = {'score_thr', 'bg_thr', 'pseudo_mask'}
    visualize_kwargs: set = {'show', 'wait_time', 'img_out_dir', 'return_vis'}
    postprocess_kwargs: set = {'pred_out_dir'}

    def __init__(self,
                 model: Union[str, Config, ConfigDict, dict],
                 weights: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None,
                 device: Optional[str] = None,
                 scope: Optional[str] = None) -> None:
        if isinstance(model, str):
            model = Config.fromfile(find_config(model))
        if isinstance(model, (Config, dict)):
            scope = scope or model.get('default_scope', None)
        init_default_scope(scope or 'mmpretrain')
        super().__init__(model, weights, device, scope or 'mmpretrain')
        if not hasattr(self.model, 'forward_cam'):
            raise TypeError(
                f'{type(self.model).__name__} has no forward_cam(): the '
                'config must describe a CAM classifier (CAMClassifier)')
        if device == 'cpu' or not torch.cuda.is_available():
            self.model = revert_sync_batchnorm(self.model)
        # The seed stage's test_step in CAM mode (an AdvCAM config keeps its
        # CAM generator), without its CAM files: postprocess writes them.
        test_cfg = dict(getattr(self.model, 'test_cfg', None) or {})
        test_cfg.pop('overwrite', None)
        test_cfg.pop('cam_dir', None)
        self.model.test_cfg = dict(test_cfg, mode='cam')
        if classes is not None:
            num_classes = _num_classes(self.model)
            if num_classes is not None and len(classes) != num_classes:
                raise ValueError(f'{len(classes)} class names for a model of '
                                 f'{num_classes} classes')
            self.classes = list(classes)
        self.visualizer.class_names = self.classes

    def _load_weights_to_model(self, model: nn.Module,
                               checkpoint: Optional[dict], cfg) -> None:
        """Load the weights; the class names are the checkpoint's
        ``meta.dataset_meta`` or the config's test dataset type's, without
        background, if there is one per model class."""
        super()._load_weights_to_model(model, checkpoint, cfg)
        meta = (checkpoint or {}).get('meta', None) or {}
        classes = (meta.get('dataset_meta', None) or {}).get('classes', None)
        if classes is None:
            kind = cfg.get('test_dataloader', {}).get('dataset', {}).get('type')
            dataset_cls = DATASETS.get(kind) if isinstance(kind, str) else kind
            classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
        classes = foreground_names(dict(classes=classes))
        num_classes = _num_classes(model)
        if num_classes is not None and len(classes or ()) != num_classes:
            classes = [f'class {k}' for k in range(num_classes)]
        self.classes = classes
        model.dataset_meta = dict(classes=classes)

    def _init_pipeline(self, cfg) -> Callable:
        """The test pipeline for one item of :meth:`preprocess`.

        A path is loaded by the pipeline's ``LoadImageFromFile`` (its
        arguments kept; a file that does not decode raises a ``ValueError``
        naming it), an array taken as is; annotation loaders are dropped.
        The data sample gets the metainfo ``input_index``, ``img_id``
        (output file stem), ``given_labels`` and ``image``, the (H, W, 3)
        uint8 RGB image as loaded (for the CRF and the pictures).
        """
        steps = cfg.get('test_dataloader', {}).get('dataset', {}).get(
            'pipeline', [dict(type='mmpretrain.PackInputs')])
        kinds = [str(t['type']).split('.')[-1] for t in steps]
        loads = [t for t, k in zip(steps, kinds) if k == 'LoadImageFromFile']
        load = TRANSFORMS.build(loads[0] if loads else dict(type='LoadImageFromFile'))
        transforms = Compose([
            TRANSFORMS.build(t) for t, k in zip(steps, kinds)
            if k != 'LoadImageFromFile' and not k.startswith('LoadAnnotations')
        ])

        def pipeline(item: dict) -> dict:
            x = item['input']
            if isinstance(x, np.ndarray):
                img = x.astype(np.float32) if load.to_float32 else x
                results = dict(img=img, img_path=None, img_shape=img.shape[:2],
                               ori_shape=img.shape[:2])
            else:
                try:
                    results = load(dict(img_path=x))
                except Exception as e:  # every decoder fails its own way
                    raise ValueError(f'{x}: not a readable image ({e})') from e
                if results is None or results['img'].size == 0:
                    raise ValueError(f'{x}: not a readable image (no pixels)')
            image = np.ascontiguousarray(results['img'][..., ::-1])
            packed = transforms(results)
            sample = packed['data_samples']
            sample.set_metainfo(dict(
                input_index=item['input_index'], img_id=item['img_id'],
                img_path=results['img_path'], ori_shape=results['ori_shape'],
                given_labels=item['labels']))
            sample.set_field(image.clip(0, 255).astype(np.uint8), 'image',
                             field_type='metainfo')
            return packed

        return pipeline

    def _init_collate(self, cfg) -> Callable:
        """The test loader's ``collate_fn`` (a name or a dict) from mmengine's
        ``FUNCTIONS``, as mmpretrain has no child of it; ``pseudo_collate``
        by default."""
        collate = cfg.get('test_dataloader', {}).get('collate_fn', None)
        collate = collate or dict(type='pseudo_collate')
        return FUNCTIONS.get(collate['type'] if isinstance(collate, dict) else collate)

    def _init_visualizer(self, cfg) -> CAMVisualizer:
        """A :class:`CAMVisualizer` (the config's draws classifications)."""
        return CAMVisualizer(
            name=f'cam_inferencer-{datetime.timestamp(datetime.now())}')

    def _inputs_to_list(self, inputs: InputsType) -> list:
        """Image paths and (H, W, 3) uint8 BGR arrays (a 2-D array is made
        BGR); a folder gives its image files (``BaseInferencer``'s listing,
        sorted). Raises ``FileNotFoundError`` (a missing path),
        ``ValueError`` (no input, a folder without images, a bad array) or
        ``TypeError`` (another type), naming the input."""
        items: list = []
        for x in [inputs] if isinstance(inputs, (str, np.ndarray)) else inputs:
            if isinstance(x, str) and osp.isdir(x):
                files = sorted(f for f in super()._inputs_to_list(x)
                               if _is_image_file(f))
                if not files:
                    raise ValueError(f'no image files in folder {x} (looked '
                                     f'for {", ".join(IMG_EXTENSIONS)})')
                items += files
            elif isinstance(x, str) and not osp.isfile(x):
                raise FileNotFoundError(f'image not found: {x}')
            elif isinstance(x, np.ndarray):
                img = cv2.cvtColor(x, cv2.COLOR_GRAY2BGR) if x.ndim == 2 else x
                if img.ndim != 3 or img.shape[2] != 3 or \
                        img.dtype != np.uint8 or img.size == 0:
                    raise ValueError(
                        f'input #{len(items)}: an array must be an (H, W, 3) '
                        f'uint8 BGR image, got {img.dtype} {img.shape}')
                items.append(img)
            elif isinstance(x, str):
                items.append(x)
            else:
                raise TypeError('an input must be an image path, a folder or '
                                f'a numpy array, got {type(x).__name__}')
        if not items:
            raise ValueError('no input images')
        return items

    def preprocess(self, inputs: list, batch_size: int = 1,
                   labels: LabelsType = None):
        """``BaseInferencer``'s batches (:meth:`_init_pipeline`, collate) of
        ``inputs`` with their output names (a file's stem, ``%08d`` of an
        array's position) and given labels (:meth:`_resolve_labels`), both
        checked (``ValueError``) before any image is loaded."""
        names: Dict[str, int] = {}
        for i, x in enumerate(inputs):
            name = osp.splitext(osp.basename(x))[0] if isinstance(x, str) \
                else f'{i:08d}'
            if name in names:
                j = names[name]
                raise ValueError(
                    f'inputs {_describe(inputs[j], j)} and {_describe(x, i)} '
                    f'share the output name {name!r}')
            names[name] = i
        given = self._resolve_labels(labels, list(names), inputs)
        return super().preprocess(
            [dict(input=x, input_index=i, img_id=n, labels=g)
             for i, (x, n, g) in enumerate(zip(inputs, names, given))],
            batch_size)

    def _resolve_labels(self, labels: LabelsType, names: List[str],
                        inputs: list) -> List[Optional[List[int]]]:
        """Per input, its given classes (sorted 0-based) or None (predict).

        ``labels`` is None (predict every image), a list with one entry per
        input (a list of class names / indices, or None to predict that
        image), a single list of classes when there is one input, or a dict
        from an input's file stem (or path as given) to its classes.
        """
        if labels is None:
            return [None] * len(names)
        if isinstance(labels, Mapping):
            index = {name: i for i, name in enumerate(names)}
            index.update({x: i for i, x in enumerate(inputs) if isinstance(x, str)})
            unknown = sorted(str(k) for k in labels if k not in index)
            if unknown:
                raise ValueError(f'labels given for {unknown[:5]}, which are '
                                 'not among the inputs')
            by_key, labels = labels, [None] * len(names)
            for key, entry in by_key.items():
                labels[index[key]] = entry
        labels = list(labels)
        if len(names) == 1 and all(_is_class(x) for x in labels):
            labels = [labels]  # the classes of the one image
        if len(labels) != len(names):
            raise ValueError(f'{len(labels)} label entries for {len(names)} '
                             'images')
        return [None if entry is None else self._class_indices(entry, name)
                for entry, name in zip(labels, names)]

    def _class_indices(self, entry, name: str) -> List[int]:
        """Sorted 0-based classes of a class name or index, or a list."""
        num = _num_classes(self.model) or len(self.classes or ())
        out = set()
        for c in [entry] if _is_class(entry) else entry:
            if isinstance(c, str) and not c.lstrip('-').isdigit():
                if c not in (self.classes or ()):
                    raise ValueError(f'labels of {name}: unknown class {c!r} '
                                     f'(classes: {self.classes})')
                out.add(self.classes.index(c))
            elif not 0 <= int(c) < num:
                raise ValueError(f'labels of {name}: class index {int(c)} '
                                 f'outside [0, {num})')
            else:
                out.add(int(c))
        return sorted(out)

    @torch.no_grad()
    def forward(self, inputs: dict, score_thr: float = SCORE_THR,
                bg_thr: float = BG_THR,
                pseudo_mask: Union[bool, dict] = False) -> List[DataSample]:
        """The batch's samples with ``pred_score`` (C,), the given classes
        or those of score >= ``score_thr`` (else the top one), ``cam``,
        ``high_res_cam``, ``cam_keys`` of the model's ``test_step`` in CAM
        mode (:func:`mmc2am.cam.predict_cams`), ``cams`` (K, H, W) at the
        loaded size, ``seed`` (background ``bg_thr``) and with
        ``pseudo_mask`` (True or a dict over :data:`DEFAULT_PSEUDO_MASK`)
        ``pseudo_mask``, (H, W) uint8 tensors."""
        mask_cfg = _pseudo_mask_cfg(pseudo_mask)
        for s, score in zip(inputs['data_samples'], self._scores(inputs)):
            keys = s.given_labels
            if keys is None:
                keys = torch.nonzero(score >= score_thr).flatten()
                if keys.numel() == 0:  # every training image has a class
                    keys = score.argmax()[None]
            # The seed stage's CAMs are those of the ground-truth classes.
            s.set_gt_label(torch.as_tensor(keys, dtype=torch.long))
            s.set_pred_score(score)
            s.set_metainfo(dict(labels_given=s.given_labels is not None,
                                bg_thr=bg_thr))
        samples = self.model.test_step(inputs)
        if not all('high_res_cam' in s for s in samples):
            raise TypeError(f'{type(self.model).__name__}.test_step in CAM '
                            'mode gave no high_res_cam: not a CAM classifier')
        for s in samples:  # a pipeline that resizes made them at img_shape
            s.cams = resize_cams(s.high_res_cam.numpy(), tuple(s.ori_shape[:2]))
            keys = s.cam_keys.numpy()
            s.seed = torch.from_numpy(
                seed_from_cams(s.cams, keys, bg_thr).astype(np.uint8))
            if mask_cfg is not None:
                s.pseudo_mask = torch.from_numpy(
                    cam_to_pseudo_mask(s.cams, keys, img=s.image, **mask_cfg))
        return samples

    def _scores(self, data: dict) -> List[torch.Tensor]:
        """(C,) sigmoid scores of each image of a batch, as the classifier's
        validation (batch 1, whole image) computes them."""
        data = self.model.data_preprocessor(dict(data), False)
        batch, samples = data['inputs'], data['data_samples']
        # Each image alone: the padding of a batch would enter the pooling.
        groups: Dict[tuple, List[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(tuple(int(v) for v in s.img_shape[:2]), []).append(i)
        scores: list = [None] * len(samples)
        for (h, w), idx in groups.items():
            for i, pred in zip(idx, self.model.predict(batch[idx, :, :h, :w])):
                scores[i] = pred.pred_score.detach().float().cpu()
        return scores

    def visualize(self, inputs: list, preds: List[DataSample],
                  show: bool = False, wait_time: float = 0,
                  img_out_dir: str = '',
                  return_vis: bool = False) -> Optional[List[np.ndarray]]:
        """``[image | CAM of each class | seed]`` pictures, (h, w, 3) uint8
        RGB (:meth:`CAMVisualizer.add_datasample`): shown, written to
        ``<img_out_dir>/<name>.png`` and / or returned (``return_vis``)."""
        if not (show or img_out_dir or return_vis):
            return None
        pictures = []
        for s in preds:
            picture = self.visualizer.add_datasample(
                s.img_id, s.image, s, show=show, wait_time=wait_time,
                threshold=s.bg_thr, cam_key='cams')
            if img_out_dir:
                # zlib's default level: OpenCV's own writes files ~4x larger
                _, png = cv2.imencode(
                    '.png', np.ascontiguousarray(picture[..., ::-1]),
                    [cv2.IMWRITE_PNG_COMPRESSION, 6])
                with atomic_open(osp.join(img_out_dir, s.img_id + '.png')) as f:
                    f.write(png.tobytes())
            pictures.append(picture)
        return pictures if return_vis else None

    def postprocess(self, preds: List[DataSample],
                    visualization: Optional[List[np.ndarray]],
                    return_datasample: bool = False,
                    pred_out_dir: str = '') -> dict:
        """The results of a batch: ``predictions`` (per image a dict, see
        the class doc, or with ``return_datasample`` the data sample) and
        ``visualization`` (the pictures or []). With ``pred_out_dir``,
        writes ``seeds/<name>.png``, ``pseudo_masks/<name>.png`` (VOC
        palette PNGs) and the CAM file ``cams/<name>.npz``, atomically."""
        results = []
        for s in preds:
            keys = s.cam_keys.numpy()
            masks = {k: s.get(k).numpy() for k in ('seed', 'pseudo_mask')
                     if k in s}
            if pred_out_dir:
                for k, mask in masks.items():
                    save_label_png(
                        osp.join(pred_out_dir, k + 's', s.img_id + '.png'), mask)
                save_cam_file(cam_file_path(osp.join(pred_out_dir, 'cams'),
                                            s.img_id),
                              keys, s.cam.numpy(), s.high_res_cam.numpy())
            results.append(s if return_datasample else dict(
                name=s.img_id, img_path=s.img_path, labels=keys,
                classes=[self.classes[k] for k in keys],
                labels_given=s.labels_given, scores=s.pred_score.numpy(),
                cams=s.cams, cams_stride4=s.cam.numpy(), **masks))
        return dict(predictions=results, visualization=list(visualization or []))

    def __call__(self, inputs: InputsType, labels: LabelsType = None, *,
                 batch_size: int = 1, out_dir: str = '',
                 img_out_dir: str = 'vis', return_datasamples: bool = False,
                 **kwargs) -> dict:
        """Run on images; each batch is written as soon as it is done (a
        loop per batch, as mmdet's ``DetInferencer``).

        Args:
            inputs (str | np.ndarray | list): An image path, a folder (its
                image files), (H, W, 3) uint8 BGR arrays (as ``mmcv.imread``
                gives), or a list of these.
            labels: None (predict each image's classes), one entry per
                image (a list of class names or 0-based indices, or None to
                predict it), one list of classes for a single image, or a
                dict from an image's file stem (or path) to its classes.
            batch_size (int): Images per forward.
            out_dir (str): Write ``<img_out_dir>/<name>.png`` pictures,
                ``seeds/<name>.png``, ``pseudo_masks/<name>.png``,
                ``cams/<name>.npz`` and ``predictions.json`` there.
            img_out_dir (str): Picture folder inside ``out_dir``.
            return_datasamples (bool): Return data samples, not dicts.
            **kwargs: Dispatched by ``BaseInferencer``: ``score_thr``
                (predicted classes, 0.5), ``bg_thr`` (seeds, 0.15: VOC's
                range; C2AM's best is 0.13), ``pseudo_mask`` (True: C2AM's
                ``t_fg=0.375, t_bg=0.10``; a dict overrides ``t_fg``,
                ``t_bg``, ``mode`` ('crf' or 'threshold'), ``crf``),
                ``show``, ``wait_time`` (seconds), ``return_vis``.

        Returns:
            dict: ``predictions`` (one per image, in input order) and
            ``visualization`` (pictures if ``return_vis``, else []).
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        pre_kw, fwd_kw, vis_kw, post_kw = self._dispatch_kwargs(
            labels=labels, pred_out_dir=out_dir,
            img_out_dir=osp.join(out_dir, img_out_dir) if out_dir else '',
            **kwargs)
        fwd_kw = {'score_thr': SCORE_THR, 'bg_thr': BG_THR,
                  'pseudo_mask': False, **fwd_kw}
        _pseudo_mask_cfg(fwd_kw['pseudo_mask'])  # bad keys fail before work
        ori_inputs = self._inputs_to_list(inputs)
        batches = self.preprocess(ori_inputs, batch_size, **pre_kw)
        out: Dict[str, list] = dict(predictions=[], visualization=[])
        images = []
        for data in track(batches, description='Inference',
                          total=math.ceil(len(ori_inputs) / batch_size)):
            preds = self.forward(data, **fwd_kw)
            part = self.postprocess(
                preds, self.visualize(ori_inputs, preds, **vis_kw),
                return_datasamples, **post_kw)
            out['predictions'] += part['predictions']
            out['visualization'] += part['visualization']
            images += [self._summary(s) for s in preds]
            for s in preds:  # the images were only needed for this batch
                s.set_metainfo(dict(image=None))
        if out_dir:
            mask = fwd_kw['pseudo_mask']
            with atomic_open(osp.join(out_dir, 'predictions.json'), 'w') as f:
                json.dump(dict(
                    bg_thr=fwd_kw['bg_thr'], score_thr=fwd_kw['score_thr'],
                    pseudo_mask=mask if isinstance(mask, dict) else bool(mask),
                    classes=self.classes, images=images), f, indent=1)
        return out

    def _summary(self, s: DataSample) -> Dict[str, Any]:
        keys = s.cam_keys.tolist()
        return dict(name=s.img_id, img_path=s.img_path, labels=keys,
                    classes=[self.classes[k] for k in keys],
                    labels_given=bool(s.labels_given),
                    scores=[round(float(v), 6) for v in s.pred_score])


def _pseudo_mask_cfg(pseudo_mask: Union[bool, dict]) -> Optional[dict]:
    """:func:`cam_to_pseudo_mask` kwargs of ``pseudo_mask`` (None: off)."""
    if not pseudo_mask:
        return None
    extra = pseudo_mask if isinstance(pseudo_mask, dict) else {}
    unknown = sorted(set(extra) - set(DEFAULT_PSEUDO_MASK))
    if unknown:
        raise ValueError(f'pseudo_mask: unknown keys {unknown} (known: '
                         f'{sorted(DEFAULT_PSEUDO_MASK)})')
    return dict(DEFAULT_PSEUDO_MASK, **extra)


def _num_classes(model: nn.Module) -> Optional[int]:
    return getattr(getattr(model, 'head', None), 'num_classes', None)


def _is_image_file(path: str) -> bool:
    name = osp.basename(path)
    return name.lower().endswith(IMG_EXTENSIONS) and not name.startswith('.')


def _describe(item, index: int) -> str:
    return item if isinstance(item, str) else f'#{index} (array)'


def _is_class(x) -> bool:
    return isinstance(x, (str, int, np.integer))


__all__ = [
    'CAMInferencer', 'BG_THR', 'DEFAULT_PSEUDO_MASK', 'IMG_EXTENSIONS', 'SCORE_THR'
]
