"""CAMs, seeds and pseudo-masks of a user's own images, in mmseg's style.

:class:`CAMInferencer` is to a C2AM / plain-CAM classifier what mmseg's
``MMSegInferencer`` is to a segmenter: built from a config (or a config name
of ``configs/c2am``) and a checkpoint, called on an image path, a folder, a
list of paths or (H, W, 3) uint8 BGR arrays, it returns per image the
classes, the multi-scale CAMs, the seed mask and optionally the CRF
pseudo-mask, draws the CAM overlay pictures and writes everything into
``out_dir``::

    from mmc2am.apis import CAMInferencer
    inferencer = CAMInferencer('configs/c2am/c2am_r50_voc.py', 'epoch_4.pth')
    result = inferencer('my_images/', out_dir='outputs', bg_thr=0.13)

The CAMs are those of the seed stage (``tools/test.py`` with the classifier
config in CAM mode): the same image loading and test pipeline, then the
model's own ``test_step`` in CAM mode (data preprocessor, multi-scale + flip
:func:`mmc2am.cam.predict_cams` with the config's ``model.test_cfg``, per-class
max normalisation), given labels or predicted classes in place of the
ground-truth classes. The seed
is :class:`SeedMetric`'s (argmax over a constant background plane ``bg_thr``
and the CAMs, ties to background); the pseudo-mask is
the CRF stage's (:func:`mmc2am.cam.pseudo_mask.cam_to_pseudo_mask`, as
``configs/c2am/pseudo_mask_*.py`` run it).
"""
import copy
import json
import math
import os
import os.path as osp
import warnings
from datetime import datetime
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmengine.fileio import get as fileio_get
from mmengine.infer import BaseInferencer
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import FUNCTIONS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmengine.visualization import Visualizer
from mmpretrain.registry import DATASETS, TRANSFORMS
from mmpretrain.structures import DataSample
from rich.progress import track
from torch import nn

from mmc2am.cam import cam_file_path, save_cam_file
from mmc2am.cam.pseudo_mask import (
    cam_to_pseudo_mask,
    resize_cams,
    save_label_png,
)
from mmc2am.utils.io import atomic_open
from mmc2am.visualization.cam_visualizer import (
    CAMVisualizer,
    draw_cam_overlay,
    seed_from_cams,
)

InputType = Union[str, np.ndarray]
InputsType = Union[InputType, Sequence[InputType]]
# Per image: class names or 0-based indices (background excluded).
LabelsType = Union[None, Sequence, Mapping[str, Sequence]]

# Files a folder input is read for (case-insensitive), as mmcv reads them.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp',
                  '.ppm', '.pgm')

# C2AM's confident-label thresholds (configs/crf/crf_voc_c2am.py; IRN's
# plain CAM uses t_fg=0.30, t_bg=0.05), for ``pseudo_mask=True``.
DEFAULT_PSEUDO_MASK = dict(t_fg=0.375, t_bg=0.10, mode='crf', crf=None)

# The repository's configs (editable install: mmc2am/../configs/c2am), where
# a model name such as 'cam_r50_voc' is looked up.
CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'c2am')


class CAMInferencer(BaseInferencer):
    """CAMs, seed masks and CRF pseudo-masks of images, with pictures.

    Args:
        model (str | Config | dict): A config file, a config name of
            ``configs/c2am`` (e.g. ``'c2am_r50_voc'``) or a config object, whose
            ``model`` is a CAM classifier (:class:`CAMClassifier`: its
            ``test_step`` in CAM mode gives the CAMs).
        weights (str, optional): Checkpoint (a runner checkpoint or a
            ``dict(state_dict=...)``). None runs the model as built (random
            init), with a warning. Defaults to None.
        classes (Sequence[str], optional): Foreground class names, one per
            model class. Defaults to the checkpoint's
            ``meta.dataset_meta.classes``, else those of the config's test
            dataset type, else ``class <k>``.
        device (str, optional): Device; None picks CUDA when available.
        scope (str, optional): Registry scope. Defaults to the config's
            ``default_scope`` (``'mmpretrain'`` for this project's configs).

    Per image, :meth:`__call__` returns a dict (see :meth:`postprocess`)
    with ``labels`` (K,) 0-based classes, ``classes`` (their names),
    ``labels_given``, ``scores`` (C,) sigmoid scores, ``cams``
    (K, H, W) and ``cams_stride4`` (K, ceil(h/4), ceil(w/4)) max-normalised
    CAMs, ``seed`` (H, W) uint8 label ids (0 background, ``k + 1`` class
    ``k``) and, with ``pseudo_mask``, ``pseudo_mask`` (H, W) uint8 (255 =
    ignore). H, W is the size of the image as loaded.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {'labels', 'score_thr', 'bg_thr', 'pseudo_mask'}
    visualize_kwargs: set = {'show', 'wait_time', 'img_out_dir', 'return_vis'}
    postprocess_kwargs: set = {'pred_out_dir'}

    def __init__(self,
                 model: Union[str, Config, ConfigDict, dict],
                 weights: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None,
                 device: Optional[str] = None,
                 scope: Optional[str] = None) -> None:
        cfg = self._config(model)
        scope = scope or cfg.get('default_scope', None) or 'mmpretrain'
        init_default_scope(scope)
        super().__init__(model=cfg, weights=weights, device=device,
                         scope=scope)
        if not hasattr(self.model, 'forward_cam'):
            raise TypeError(
                f'{type(self.model).__name__} has no forward_cam(): the '
                'config must describe a CAM classifier (CAMClassifier)')
        if device == 'cpu' or not torch.cuda.is_available():
            self.model = revert_sync_batchnorm(self.model)
        # The CAMs are the model's own test_step in CAM mode (what
        # tools/test.py runs for the seed stage) with the config's scales
        # and flip, but no CAM files there: postprocess writes them.
        test_cfg = dict(getattr(self.model, 'test_cfg', None) or {})
        test_cfg.pop('overwrite', None)
        test_cfg.pop('cam_dir', None)
        # an AdvCAM config keeps its mode (and its keys); else plain CAMs
        mode = test_cfg.get('mode')
        self.model.test_cfg = dict(
            test_cfg, mode=mode if mode in ('cam', 'advcam') else 'cam')
        num_classes = self._num_classes()
        if classes is not None:
            if num_classes is not None and len(classes) != num_classes:
                raise ValueError(f'{len(classes)} class names for a model of '
                                 f'{num_classes} classes')
            self.classes = list(classes)
        self.visualizer.class_names = self.classes

    # ------------------------------------------------------------------ #
    # Construction
    # ------------------------------------------------------------------ #
    @staticmethod
    def _config(model) -> Config:
        """A config file, a config name of ``configs/c2am`` or a config."""
        if isinstance(model, (Config, ConfigDict, dict)):
            cfg = copy.deepcopy(model)
            return cfg if isinstance(cfg, Config) else Config(dict(cfg))
        if not isinstance(model, str):
            raise TypeError('model must be a config file, a config name or '
                            f'a Config, got {type(model).__name__}')
        if osp.isfile(model):
            return Config.fromfile(model)
        name = osp.splitext(osp.basename(model))[0]
        path = osp.join(CONFIG_DIR, name + '.py')
        if model == name and osp.isfile(path):
            return Config.fromfile(path)
        known = sorted(f[:-3] for f in _listdir(CONFIG_DIR) if f.endswith('.py'))
        raise FileNotFoundError(
            f'{model!r} is neither a config file nor a config name of '
            f'{CONFIG_DIR} ({", ".join(known) or "none found"})')

    def _load_weights_to_model(self, model: nn.Module,
                               checkpoint: Optional[dict], cfg) -> None:
        """Load the weights and take the class names from the checkpoint's
        ``meta.dataset_meta`` or the config's test dataset type."""
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint)
        else:
            warnings.warn('No checkpoint: the CAMs come from the model as '
                          'built (random initialisation)', stacklevel=2)
        meta = (checkpoint or {}).get('meta', None) or {}
        classes = (meta.get('dataset_meta', None) or {}).get('classes', None)
        if classes is None:
            dataset = cfg.get('test_dataloader', {}).get('dataset', {})
            kind = dataset.get('type', None)
            dataset_cls = DATASETS.get(kind) if isinstance(kind, str) \
                else kind
            classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
        num_classes = getattr(getattr(model, 'head', None), 'num_classes',
                              None)
        if classes is not None and num_classes is not None:
            classes = list(classes)
            if classes and str(classes[0]).lower() in ('background', 'bg'):
                classes = classes[1:]
            if len(classes) != num_classes:
                classes = None  # names of another label set: do not guess
        if classes is None and num_classes is not None:
            classes = [f'class {k}' for k in range(num_classes)]
        self.classes = classes
        model.dataset_meta = dict(classes=classes)

    def _num_classes(self) -> Optional[int]:
        return getattr(getattr(self.model, 'head', None), 'num_classes', None)

    def _init_pipeline(self, cfg) -> Compose:
        """The config's test pipeline without loading and annotations.

        Images are loaded by :meth:`preprocess` exactly as the pipeline's
        ``LoadImageFromFile`` would (its arguments are kept); annotation
        loaders are dropped (the user's images have no masks).
        """
        pipeline = copy.deepcopy(
            cfg.get('test_dataloader', {}).get('dataset', {}).get(
                'pipeline', [dict(type='PackInputs')]))
        self._load_args = dict(color_type='color', imdecode_backend='cv2',
                               to_float32=False)
        kept = []
        for t in pipeline:
            kind = str(t['type']).split('.')[-1]
            if kind == 'LoadImageFromFile':
                self._load_args.update(
                    {k: t[k] for k in self._load_args if k in t})
            elif not kind.startswith('LoadAnnotations'):
                kept.append(t)
        return Compose([TRANSFORMS.build(t) for t in kept])

    def _init_collate(self, cfg) -> Callable:
        """The test loader's ``collate_fn`` (a name in mmengine's
        ``FUNCTIONS``), else ``pseudo_collate`` (the loaders' default)."""
        collate = cfg.get('test_dataloader', {}).get('collate_fn', None)
        if collate is None:
            return pseudo_collate
        # mmpretrain has no FUNCTIONS registry of its own: look in mmengine's
        # root, where default_collate / pseudo_collate live.
        return FUNCTIONS.get(collate['type'] if isinstance(collate, dict)
                             else collate)

    def _init_visualizer(self, cfg) -> Visualizer:
        """A :class:`CAMVisualizer` (the config's visualizer draws
        classification results, not CAMs)."""
        name = f'cam_inferencer-{datetime.timestamp(datetime.now())}'
        return CAMVisualizer(name=name)

    # ------------------------------------------------------------------ #
    # Inputs
    # ------------------------------------------------------------------ #
    def _inputs_to_list(self, inputs: InputsType) -> list:
        """A list of image paths and arrays; a folder gives its image files
        (sorted, not recursive).

        Raises:
            FileNotFoundError: A path that does not exist (named).
            ValueError: No input, or a folder without image files (named).
            TypeError: An input that is neither a path nor an array.
        """
        if isinstance(inputs, (str, np.ndarray)):
            inputs = [inputs]
        items = []
        for item in inputs:
            if isinstance(item, str) and osp.isdir(item):
                files = sorted(
                    f for f in _listdir(item)
                    if f.lower().endswith(IMG_EXTENSIONS)
                    and not f.startswith('.'))
                if not files:
                    raise ValueError(
                        f'no image files in folder {item} (looked for '
                        f'{", ".join(IMG_EXTENSIONS)})')
                items += [osp.join(item, f) for f in files]
            elif isinstance(item, str):
                if not osp.isfile(item):
                    raise FileNotFoundError(f'image not found: {item}')
                items.append(item)
            elif isinstance(item, np.ndarray):
                items.append(item)
            else:
                raise TypeError('an input must be an image path, a folder or '
                                f'a numpy array, got {type(item).__name__}')
        if not items:
            raise ValueError('no input images')
        return items

    @staticmethod
    def _names(inputs: list) -> List[str]:
        """Output file stem of each input: the file name without extension,
        ``%08d`` (the input's position) for an array.

        Raises:
            ValueError: Two inputs would write the same output files.
        """
        names, seen = [], {}
        for i, item in enumerate(inputs):
            name = (osp.splitext(osp.basename(item))[0]
                    if isinstance(item, str) else f'{i:08d}')
            if name in seen:
                other = inputs[seen[name]]
                raise ValueError(
                    f'inputs {_describe(other, seen[name])} and '
                    f'{_describe(item, i)} share the output name {name!r}')
            seen[name] = i
            names.append(name)
        return names

    def _load(self, item: InputType, index: int) -> dict:
        """Load one input as the pipeline's ``LoadImageFromFile`` does.

        Returns:
            dict: ``img`` (H, W, 3) as loaded (BGR), ``img_shape``,
            ``ori_shape`` and, for a path, ``img_path``.
        """
        args = self._load_args
        if isinstance(item, str):
            try:
                img = mmcv.imfrombytes(
                    fileio_get(item), flag=args['color_type'],
                    backend=args['imdecode_backend'])
            except Exception as e:  # every decoder fails its own way
                raise ValueError(f'{item}: not a readable image ({e})') from e
            if img is None or img.size == 0:
                raise ValueError(f'{item}: not a readable image (the '
                                 'decoder returned nothing)')
            results = dict(img_path=item)
        else:
            img = item
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 \
                    or img.size == 0:
                raise ValueError(
                    f'input #{index}: an array must be an (H, W, 3) uint8 '
                    f'BGR image, got {img.dtype} {img.shape}')
            results = dict(img_path=None)
        if args['to_float32']:
            img = img.astype(np.float32)
        results.update(img=img, img_shape=img.shape[:2],
                       ori_shape=img.shape[:2])
        return results

    def preprocess(self, inputs: list, batch_size: int = 1,
                   **kwargs) -> Iterator[dict]:
        """Yield collated batches of ``batch_size`` images.

        Each batch is the collated pipeline output (``inputs``,
        ``data_samples``, with metainfo ``input_index`` and ``img_id``) plus
        ``images``: the (H, W, 3) uint8 RGB images as loaded (for the CRF and
        the pictures).
        """
        names = self._names(inputs)
        for start in range(0, len(inputs), batch_size):
            packed, images = [], []
            for i in range(start, min(start + batch_size, len(inputs))):
                results = self._load(inputs[i], i)
                rgb = np.ascontiguousarray(results['img'][..., ::-1])
                images.append(rgb.clip(0, 255).astype(np.uint8))
                out = self.pipeline(results)
                out['data_samples'].set_metainfo(
                    dict(input_index=i, img_id=names[i],
                         img_path=results['img_path'],
                         ori_shape=results['ori_shape']))
                packed.append(out)
            data = self.collate_fn(packed)
            data['images'] = images
            yield data

    # ------------------------------------------------------------------ #
    # Model
    # ------------------------------------------------------------------ #
    def _resolve_labels(self, labels: LabelsType,
                        names: List[str],
                        inputs: list) -> List[Optional[List[int]]]:
        """Per input, its given classes (sorted 0-based) or None (predict).

        ``labels`` is None (predict every image), a list with one entry per
        input (a list of class names / indices, or None to predict that
        image), a single list of classes when there is one input, or a dict
        from an input's file stem (or path as given) to its classes.
        """
        n = len(names)
        if labels is None:
            return [None] * n
        if isinstance(labels, Mapping):
            keys = {name: i for i, name in enumerate(names)}
            keys.update({item: i for i, item in enumerate(inputs)
                         if isinstance(item, str)})
            unknown = sorted(str(k) for k in labels if k not in keys)
            if unknown:
                raise ValueError(f'labels given for {unknown[:5]}, which '
                                 'are not among the inputs')
            out: List[Optional[List[int]]] = [None] * n
            for key, entry in labels.items():
                out[keys[key]] = self._class_indices(entry, names[keys[key]])
            return out
        labels = list(labels)
        if n == 1 and all(_is_class(x) for x in labels):
            labels = [labels]  # the classes of the one image
        if len(labels) != n:
            raise ValueError(f'{len(labels)} label entries for {n} images')
        return [None if entry is None else self._class_indices(entry, name)
                for entry, name in zip(labels, names)]

    def _class_indices(self, entry, name: str) -> List[int]:
        entry = [entry] if _is_class(entry) else list(entry)
        num = self._num_classes() or len(self.classes or ())
        out = set()
        for c in entry:
            if isinstance(c, str) and not c.lstrip('-').isdigit():
                if not self.classes or c not in self.classes:
                    raise ValueError(f'labels of {name}: unknown class {c!r} '
                                     f'(classes: {self.classes})')
                out.add(self.classes.index(c))
            else:
                k = int(c)
                if not 0 <= k < num:
                    raise ValueError(f'labels of {name}: class index {k} '
                                     f'outside [0, {num})')
                out.add(k)
        return sorted(out)

    @torch.no_grad()
    def forward(self,
                inputs: dict,
                labels: Optional[List[Optional[List[int]]]] = None,
                score_thr: float = 0.5,
                bg_thr: float = 0.15,
                pseudo_mask: Union[bool, dict] = False) -> List[DataSample]:
        """Scores, classes, CAMs, seeds (and pseudo-masks) of one batch.

        Args:
            inputs (dict): A batch of :meth:`preprocess`.
            labels (list, optional): Per input index, given 0-based classes
                or None (then the classes whose sigmoid score is at least
                ``score_thr``; the top class if none is).
            score_thr (float): Score threshold of the predicted classes.
            bg_thr (float): Background threshold of the seed.
            pseudo_mask (bool | dict): Also make the pseudo-mask; a dict
                overrides ``t_fg``, ``t_bg``, ``mode``, ``crf`` of
                :data:`DEFAULT_PSEUDO_MASK`.

        Returns:
            list[DataSample]: With ``pred_score`` (C,), ``cam`` /
            ``high_res_cam`` and metainfo ``cam_keys`` from the model's
            ``test_step`` in CAM mode (:func:`mmc2am.cam.predict_cams`),
            and ``seed`` / ``pseudo_mask`` (H, W) uint8 tensors at the
            loaded image size, metainfo ``labels_given``.
        """
        images = inputs['images']
        data = dict(inputs=inputs['inputs'],
                    data_samples=inputs['data_samples'])
        scores = self._scores(data)
        for s, score in zip(data['data_samples'], scores):
            given = None if labels is None else labels[s.input_index]
            if given is None:
                keys = torch.nonzero(score >= score_thr).flatten()
                if keys.numel() == 0:  # every training image has a class
                    keys = score.argmax()[None]
                keys = keys.tolist()
            else:
                keys = list(given)
            # The seed stage's CAMs are those of the ground-truth classes.
            s.set_gt_label(torch.tensor(keys, dtype=torch.long))
            s.set_pred_score(score)
            s.set_metainfo(dict(labels_given=given is not None))
        samples = self.model.test_step(data)
        if not all('high_res_cam' in s for s in samples):
            raise TypeError(
                f'{type(self.model).__name__}.test_step in CAM mode gave no '
                'high_res_cam: the model must be a CAM classifier')
        mask_cfg = _pseudo_mask_cfg(pseudo_mask)
        for s, rgb in zip(samples, images):
            cams, keys = self._full_size_cams(s), s.cam_keys.numpy()
            seed = seed_from_cams(cams, keys, bg_thr).astype(np.uint8)
            s.set_field(torch.from_numpy(seed), 'seed')
            if mask_cfg is not None:
                mask = cam_to_pseudo_mask(cams, keys, img=rgb, **mask_cfg)
                s.set_field(torch.from_numpy(mask), 'pseudo_mask')
            s.set_metainfo(dict(bg_thr=bg_thr))
        for s, rgb in zip(samples, images):
            s.set_field(rgb, 'image', field_type='metainfo')
        return samples

    def _scores(self, data: dict) -> List[torch.Tensor]:
        """(C,) sigmoid scores of each image of a batch, as the
        classifier's validation (batch 1, whole image) computes them."""
        data = self.model.data_preprocessor(dict(data), False)
        batch, samples = data['inputs'], data['data_samples']
        # Each image alone: the padding of a batch would enter the pooling.
        groups: Dict[Tuple[int, int], List[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(tuple(int(v) for v in s.img_shape[:2]),
                              []).append(i)
        scores: List[Optional[torch.Tensor]] = [None] * len(samples)
        for (h, w), idx in groups.items():
            for i, pred in zip(idx, self.model.predict(batch[idx, :, :h, :w])):
                scores[i] = pred.pred_score.detach().float().cpu()
        return scores

    @staticmethod
    def _full_size_cams(sample: DataSample) -> np.ndarray:
        """(K, H, W) float32 CAMs at the size of the loaded image (a test
        pipeline that resizes made them at ``img_shape``)."""
        cams = sample.high_res_cam.numpy()
        return resize_cams(cams, tuple(sample.ori_shape[:2]))

    # ------------------------------------------------------------------ #
    # Outputs
    # ------------------------------------------------------------------ #
    def visualize(self,
                  inputs: list,
                  preds: List[DataSample],
                  show: bool = False,
                  wait_time: float = 0,
                  img_out_dir: str = '',
                  return_vis: bool = False) -> Optional[List[np.ndarray]]:
        """``[image | CAM of each class | seed]`` pictures.

        Args:
            inputs (list): The inputs of ``preds`` (unused: the images as
                loaded travel in the samples).
            preds (list[DataSample]): Of :meth:`forward`.
            show (bool): Show each picture in a window.
            wait_time (float): Seconds to show it.
            img_out_dir (str): Write ``<img_out_dir>/<name>.png`` (RGB).
            return_vis (bool): Return the pictures.

        Returns:
            list[np.ndarray] | None: (h, w, 3) uint8 RGB pictures.
        """
        if not (show or img_out_dir or return_vis):
            return None
        pictures = []
        for s in preds:
            picture = draw_cam_overlay(
                self.visualizer, s.image, self._full_size_cams(s),
                s.cam_keys, s.bg_thr, self.classes)
            if show:
                self.visualizer.show(picture, win_name=s.img_id,
                                     wait_time=wait_time)
            if img_out_dir:
                _write_png(osp.join(img_out_dir, s.img_id + '.png'),
                           picture[..., ::-1])
            pictures.append(picture if return_vis else None)
        return pictures if return_vis else None

    def postprocess(self,
                    preds: List[DataSample],
                    visualization: Optional[List[np.ndarray]],
                    return_datasample: bool = False,
                    pred_out_dir: str = '') -> dict:
        """Pack the results of a batch and write its files.

        With ``pred_out_dir``, writes per image ``seeds/<name>.png`` and
        (``pseudo_mask``) ``pseudo_masks/<name>.png`` (VOC palette PNGs of
        the label ids) and ``cams/<name>.npz`` (a CAM file,
        :mod:`mmc2am.cam.cam_file`, as the seed stage writes), atomically.

        Returns:
            dict: ``predictions``: per image a dict of numpy arrays (see the
            class doc) or, with ``return_datasample``, the data samples;
            ``visualization``: the pictures or [].
        """
        results = []
        for s in preds:
            keys = s.cam_keys.numpy()
            if pred_out_dir:
                save_label_png(
                    osp.join(pred_out_dir, 'seeds', s.img_id + '.png'),
                    s.seed.numpy())
                if 'pseudo_mask' in s:
                    save_label_png(
                        osp.join(pred_out_dir, 'pseudo_masks',
                                 s.img_id + '.png'), s.pseudo_mask.numpy())
                save_cam_file(
                    cam_file_path(osp.join(pred_out_dir, 'cams'), s.img_id),
                    keys, s.cam.numpy(), s.high_res_cam.numpy())
            if return_datasample:
                results.append(s)
                continue
            result = dict(
                name=s.img_id,
                img_path=s.img_path,
                labels=keys,
                classes=[self.classes[k] for k in keys],
                labels_given=s.labels_given,
                scores=s.pred_score.numpy(),
                cams=self._full_size_cams(s),
                cams_stride4=s.cam.numpy(),
                seed=s.seed.numpy())
            if 'pseudo_mask' in s:
                result['pseudo_mask'] = s.pseudo_mask.numpy()
            results.append(result)
        return dict(predictions=results,
                    visualization=list(visualization or []))

    def __call__(self,
                 inputs: InputsType,
                 labels: LabelsType = None,
                 score_thr: float = 0.5,
                 bg_thr: float = 0.15,
                 pseudo_mask: Union[bool, dict] = False,
                 batch_size: int = 1,
                 out_dir: str = '',
                 show: bool = False,
                 wait_time: float = 0,
                 return_vis: bool = False,
                 return_datasamples: bool = False,
                 img_out_dir: str = 'vis') -> dict:
        """Run on images; each batch is written as soon as it is done.

        Args:
            inputs (str | np.ndarray | list): An image path, a folder (its
                image files), (H, W, 3) uint8 BGR arrays (as ``mmcv.imread``
                gives), or a list of these.
            labels: None (predict each image's classes), one entry per
                image (a list of class names or 0-based indices, or None to
                predict it), one list of classes for a single image, or a
                dict from an image's file stem (or path) to its classes.
            score_thr (float): Sigmoid score from which a class is
                predicted. Defaults to 0.5.
            bg_thr (float): Background threshold of the seeds (and of the
                seed panel of the pictures). Defaults to 0.15 (VOC's range;
                C2AM's best is 0.13).
            pseudo_mask (bool | dict): Also make CRF pseudo-masks; True uses
                C2AM's ``t_fg=0.375, t_bg=0.10``, a dict overrides ``t_fg``,
                ``t_bg``, ``mode`` ('crf' or 'threshold') and ``crf``.
            batch_size (int): Images per forward. Defaults to 1.
            out_dir (str): Write ``vis/<name>.png`` pictures,
                ``seeds/<name>.png``, ``pseudo_masks/<name>.png``,
                ``cams/<name>.npz`` and ``predictions.json`` there.
            show (bool): Show the pictures in windows.
            wait_time (float): Seconds to show each.
            return_vis (bool): Return the pictures.
            return_datasamples (bool): Return data samples, not dicts.
            img_out_dir (str): Picture folder inside ``out_dir``.

        Returns:
            dict: ``predictions`` (one per image, in input order) and
            ``visualization`` (pictures if ``return_vis``, else []).
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        _pseudo_mask_cfg(pseudo_mask)  # bad keys fail before any work
        ori_inputs = self._inputs_to_list(inputs)
        names = self._names(ori_inputs)
        resolved = self._resolve_labels(labels, names, ori_inputs)
        pictures_dir = osp.join(out_dir, img_out_dir) if out_dir else ''
        out: Dict[str, list] = dict(predictions=[], visualization=[])
        summary = []
        num_batches = math.ceil(len(ori_inputs) / batch_size)
        for data in track(self.preprocess(ori_inputs, batch_size),
                          description='Inference', total=num_batches):
            preds = self.forward(data, labels=resolved, score_thr=score_thr,
                                 bg_thr=bg_thr, pseudo_mask=pseudo_mask)
            vis = self.visualize(None, preds, show=show, wait_time=wait_time,
                                 img_out_dir=pictures_dir,
                                 return_vis=return_vis)
            part = self.postprocess(preds, vis, return_datasamples,
                                    pred_out_dir=out_dir)
            out['predictions'] += part['predictions']
            out['visualization'] += part['visualization']
            summary += [self._summary(s) for s in preds]
            for s in preds:  # the images were only needed for this batch
                s.set_metainfo(dict(image=None))
        if out_dir:
            with atomic_open(osp.join(out_dir, 'predictions.json'), 'w') as f:
                json.dump(dict(bg_thr=bg_thr, score_thr=score_thr,
                               pseudo_mask=_jsonable(pseudo_mask),
                               classes=self.classes, images=summary), f,
                          indent=1)
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


def _listdir(folder: str) -> List[str]:
    return os.listdir(folder) if osp.isdir(folder) else []


def _describe(item, index: int) -> str:
    return item if isinstance(item, str) else f'#{index} (array)'


def _is_class(x) -> bool:
    return isinstance(x, (str, int, np.integer))


def _jsonable(x):
    return x if isinstance(x, (bool, dict)) else bool(x)


def _write_png(path: str, bgr: np.ndarray) -> None:
    """Write a (H, W, 3) BGR uint8 picture as PNG, atomically."""
    # zlib's default level: OpenCV's own default writes files ~4x larger.
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(bgr),
                           [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError(f'{path}: PNG encoding failed')
    with atomic_open(path, 'wb') as f:
        f.write(buf.tobytes())


__all__ = ['CAMInferencer', 'DEFAULT_PSEUDO_MASK', 'IMG_EXTENSIONS']
