"""One figure of a finished ``tools/run_pipeline.py`` work folder.

Rows of val images; per method a block of columns::

    image | ground truth | CAM | seed | CRF pseudo-mask | segmenter

- CAM: the method's classifier in its test (CAM) mode, as the seed stage
  runs it (:class:`mmc2am.apis.CAMInferencer` given the image's labels),
  shown for the ground-truth class with the largest area (heat map over the
  image, the class named in the title);
- seed: the argmax over the background threshold ``t*`` of the method's seed
  test (``best_threshold`` of its ``test_metrics.json``; SeedMetric's rule);
- CRF pseudo-mask: made on the fly for the val image with the thresholds and
  CRF settings of the method's pseudo-mask config (its
  :class:`CRFConfidentLabels`, built as ``tools/test.py`` builds it, so
  ``thresholds_from_seeds`` derives ``t_fg`` / ``t_bg`` from the seed test)
  and :func:`mmc2am.cam.pseudo_mask.cam_to_pseudo_mask`;
- segmenter: mmseg's ``init_model`` + ``inference_model`` with the segmenter
  config and the last checkpoint of ``work_dirs/seg_<method>_<refine>``.

Each config is the copy the stage's runner wrote into its folder (what the
stage ran with, ``--cfg-options`` included), else the repository's;
checkpoints that do not fit their model are refused.

A bottom panel plots every method's seed sweep (seed mIoU against the
background threshold, from the seed test's ``seed_sweep.json``) with its best
threshold marked. Masks use VOC's palette, ignore (255) in white.

The images are the first ``--num-images`` of ``val.txt`` whose ground truth
has an object. The figure is ``<work-dir>/figure.png`` unless ``--out``::

    python tools/pipeline_figure.py work_dirs/demo --methods cam c2am
"""
import argparse
import contextlib
import copy
import io
import json
import os
import os.path as osp
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am.pipeline import Methods, config_stem, presets, work_dir_of  # noqa: E402,E501
from mmc2am.utils.config_files import find_config  # noqa: E402
from mmc2am.utils.io import atomic_open, latest_seed_sweep, pick_metric  # noqa: E402
from mmc2am.utils.mask_files import VOC_PNG_PALETTE, load_label_png  # noqa: E402,E501

COLUMNS = ('image', 'ground truth', 'CAM', 'seed', 'CRF pseudo-mask',
           'segmenter')

# Layout, inches (at DPI dots per inch): see figure_size.
DPI = 100
PANEL = 1.1  # one 64 px image, shown with nearest-neighbour enlargement
PANEL_GAP = 0.06  # between the columns of a block
BLOCK_GAP = 0.3  # between the blocks of two methods
MARGIN_L, MARGIN_R = 0.3, 0.15
HEADER = 0.4  # the method names
TITLE = 0.26  # above each row of panels
CURVE_GAP, CURVE, CURVE_BOTTOM = 0.45, 2.6, 0.5

# VOC's colours, ignore (255) in white
PALETTE = VOC_PNG_PALETTE.copy()
PALETTE[255] = 255


def figure_size(num_images: int, num_methods: int) -> Tuple[int, int]:
    """(width, height) in pixels of the figure of ``num_images`` rows and
    ``num_methods`` blocks of :data:`COLUMNS`."""
    w, h = _size_inches(num_images, num_methods)
    return int(round(w * DPI)), int(round(h * DPI))


def _block_width() -> float:
    return len(COLUMNS) * PANEL + (len(COLUMNS) - 1) * PANEL_GAP


def _size_inches(num_images: int, num_methods: int) -> Tuple[float, float]:
    width = MARGIN_L + MARGIN_R + num_methods * _block_width() + \
        (num_methods - 1) * BLOCK_GAP
    height = HEADER + num_images * (TITLE + PANEL) + CURVE_GAP + CURVE + \
        CURVE_BOTTOM
    return width, height


@contextlib.contextmanager
def _cwd(folder: str) -> Iterator[None]:
    """The configs' data and work_dirs paths are relative to the work
    folder, as tools/run_pipeline.py runs every stage there."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _require(path: str, made_by: str) -> str:
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: it is made by {made_by} (run '
            'tools/run_pipeline.py on this work folder first)')
    return path


def _stage(tool: str, config: str, work: Optional[str] = None) -> str:
    stem = config_stem(config)
    cmd = f'python tools/{tool}.py {osp.relpath(find_config(config), ROOT)}'
    if tool == 'test':
        cmd += ' <checkpoint>'
    if work is not None:
        cmd += f' --work-dir {work}'
    return f"the stage '{tool} {stem}' ({cmd})"


def _checkpoint(work_dir: str, stage_dir: str, made_by: str) -> str:
    """The checkpoint named by ``<stage_dir>/last_checkpoint``; a folder
    moved since keeps its checkpoints beside that file."""
    pointer = _require(osp.join(work_dir, stage_dir, 'last_checkpoint'),
                       made_by)
    with open(pointer) as f:
        path = f.read().strip()
    if not osp.isabs(path):
        path = osp.join(work_dir, path)
    if not osp.isfile(path):
        moved = osp.join(work_dir, stage_dir, osp.basename(path))
        path = moved if osp.isfile(moved) else path
    return _require(path, made_by)


def _method_files(work_dir: str, spec: Methods, method: str,
                  refine: str) -> dict:
    """Every file the figure reads for ``method``, checked to exist."""
    cls = spec.config(method, 'classifier')
    crf = spec.config(method, 'crf')
    seg = spec.segmenter
    cls_dir = work_dir_of(cls)
    trained_dir = spec.classifier_dir(method)
    trained = method  # the method whose classifier its stages test
    while not spec.trains(trained):
        trained = spec.start(trained)
    trained = spec.config(trained, 'classifier')
    seg_dir = spec.segmenter_dir(method, refine)
    seeds_by = _stage('test', cls, cls_dir)
    metrics = _require(osp.join(work_dir, cls_dir, 'test_metrics.json'),
                       seeds_by)
    with open(metrics) as f:
        best = pick_metric(json.load(f), 'best_threshold')
    if best is None:
        raise KeyError(f'{metrics} has no best_threshold: not the seed test '
                       f'of {cls} ({seeds_by})')
    # SeedMetric writes the sweep into the seed test's log folder
    # (work_dirs/<config>/<timestamp>/); the newest one
    sweep = latest_seed_sweep(osp.join(work_dir, cls_dir))
    if sweep is None:
        _require(osp.join(work_dir, cls_dir, '<timestamp>', 'seed_sweep.json'),
                 seeds_by)
    return dict(
        cls_config=_stage_config(work_dir, cls_dir, cls),
        # AdvCAM trains no classifier: that of the method it starts from
        cls_checkpoint=_checkpoint(work_dir, trained_dir,
                                   _stage('train', trained)),
        best_threshold=best,
        sweep=sweep,
        crf_config=_stage_config(work_dir, work_dir_of(crf), crf),
        seg_config=_stage_config(work_dir, seg_dir, seg),
        seg_checkpoint=_checkpoint(work_dir, seg_dir,
                                   _stage('train', seg, seg_dir)))


def _stage_config(work_dir: str, stage_dir: str, config: str) -> str:
    """The config a stage ran with: the copy its runner wrote into the
    stage's folder (the run's --cfg-options included; the repository's
    config may have changed since), else the repository's."""
    dumped = osp.join(work_dir, stage_dir, osp.basename(config))
    return dumped if osp.isfile(dumped) else find_config(config)


def _check_weights(model, checkpoint: str, config: str) -> None:
    """Refuse a checkpoint that does not fit the model (mmengine loads
    it non-strictly: a changed config would draw random weights)."""
    import torch
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state = state.get('state_dict', state)
    have = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    want = {k: tuple(v.shape) for k, v in state.items()
            if hasattr(v, 'shape')}
    bad = sorted(k for k in have.keys() | want.keys()
                 if have.get(k) != want.get(k))
    if bad:
        raise ValueError(
            f'{checkpoint} does not fit the model of {config} ({len(bad)} '
            f'weights differ in name or shape, e.g. {bad[:3]})')


def _val_images(data_root: str, cls_config: str,
                num_images: int) -> List[dict]:
    """The first ``num_images`` val images with an object in their mask:
    ``img_path``, ``gt`` (H, W) uint8 mask, ``labels`` (the image-level
    labels of the classifier's test dataset, read from val) and ``largest``
    (0-based class of the largest ground-truth area)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS

    import mmc2am  # noqa: F401  (registers the dataset)

    cfg = Config.fromfile(cls_config)
    ds = copy.deepcopy(cfg.test_dataloader.dataset)
    ds.update(data_root=data_root, ann_file='ImageSets/Segmentation/val.txt',
              pipeline=[], test_mode=True, label_cache=None)
    ds.setdefault('data_prefix', {})['seg_map_path'] = 'SegmentationClass'
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        dataset = DATASETS.build(ds)
    out = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        gt = load_label_png(info['seg_map_path'])
        ids, areas = np.unique(gt[(gt > 0) & (gt < 255)], return_counts=True)
        if not len(ids):
            continue
        # the largest class; ties to the smaller id
        largest = int(ids[np.argmax(areas)]) - 1
        labels = sorted(int(k) for k in np.asarray(info['gt_label']).ravel())
        out.append(dict(img_id=info.get('img_id', osp.splitext(
            osp.basename(info['img_path']))[0]), img_path=info['img_path'],
            gt=gt, labels=labels, largest=largest))
        if len(out) == num_images:
            break
    if not out:
        raise ValueError(f'no val image of {data_root} has an object in its '
                         'mask')
    return out


def _crf_settings(crf_config: str) -> dict:
    """``t_fg``, ``t_bg``, ``mode``, ``crf``, ``cam_key`` of the pseudo-mask
    config's model, built as tools/test.py builds it (current folder: the
    work folder, where ``thresholds_from_seeds`` finds the seed metrics)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import mmc2am  # noqa: F401  (registers CRFConfidentLabels)

    cfg = Config.fromfile(crf_config)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmseg')):
        model = MODELS.build(cfg.model)
    return dict(t_fg=model.t_fg, t_bg=model.t_bg, mode=model.mode,
                crf=model.crf, cam_key=model.cam_key)


def _method_panels(files: dict, images: List[dict]) -> dict:
    """CAMs, seeds, CRF pseudo-masks and segmenter predictions of one
    method (current folder: the work folder)."""
    from mmseg.apis import inference_model, init_model

    from mmc2am.apis import CAMInferencer
    from mmc2am.cam.pseudo_mask import cam_to_pseudo_mask, resize_cams

    crf = _crf_settings(files['crf_config'])
    cam_key = crf.pop('cam_key')
    inferencer = CAMInferencer(files['cls_config'], files['cls_checkpoint'],
                               device='cpu')
    paths = [im['img_path'] for im in images]
    preds = inferencer(paths, labels=[im['labels'] for im in images],
                       bg_thr=files['best_threshold'],
                       pseudo_mask=cam_key == 'high_res_cam' and crf)
    _check_weights(inferencer.model, files['cls_checkpoint'],
                   files['cls_config'])
    classes = list(inferencer.classes)
    del inferencer
    out = dict(cam=[], cam_class=[], seed=[], crf=[], seg=[], classes=classes,
               crf_settings=crf, best_threshold=files['best_threshold'])
    for im, p in zip(images, preds['predictions']):
        keys = [int(k) for k in p['labels']]
        k = keys.index(im['largest']) if im['largest'] in keys else 0
        out['cam'].append(p['cams'][k] if keys else
                          np.zeros(im['gt'].shape, np.float32))
        out['cam_class'].append(classes[keys[k]] if keys else 'none')
        out['seed'].append(p['seed'])
        if 'pseudo_mask' in p:
            out['crf'].append(p['pseudo_mask'])
        else:  # the stride-4 CAMs (cam_key='cam'), resized as the model does
            rgb = _read_rgb(im['img_path'])
            out['crf'].append(cam_to_pseudo_mask(
                resize_cams(p['cams_stride4'], rgb.shape[:2]), p['labels'],
                img=rgb, **crf))
    model = init_model(files['seg_config'], files['seg_checkpoint'],
                       device='cpu')
    _check_weights(model, files['seg_checkpoint'], files['seg_config'])
    for sample in inference_model(model, paths):
        out['seg'].append(
            sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8))
    return out


def _read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB, decoded as the pipelines' LoadImageFromFile
    (OpenCV) decodes it."""
    import mmcv
    return mmcv.imread(path, channel_order='rgb')


def _draw(images: List[dict], methods: Sequence[str], panels: Dict[str, dict],
          sweeps: Dict[str, dict], names: Dict[str, str],
          refine: str) -> bytes:
    """The PNG bytes of the figure (layout: :func:`figure_size`)."""
    from matplotlib.figure import Figure

    width, height = _size_inches(len(images), len(methods))
    fig = Figure(figsize=(width, height), dpi=DPI)

    def axes(x: float, y: float, w: float, h: float):
        """Axes at (x, y) inches from the top left, w x h inches."""
        return fig.add_axes((x / width, 1 - (y + h) / height, w / width,
                             h / height))

    rgbs = [_read_rgb(im['img_path']) for im in images]
    for b, method in enumerate(methods):
        p = panels[method]
        x0 = MARGIN_L + b * (_block_width() + BLOCK_GAP)
        fig.text((x0 + _block_width() / 2) / width, 1 - 0.2 / height,
                 names.get(method, method), ha='center', va='center',
                 fontsize=13, fontweight='bold')
        crf = p['crf_settings']
        titles = ('image', 'ground truth', None,
                  f"seed (t*={p['best_threshold']:.2f})",
                  f"CRF ({crf['t_fg']:.2f} / {crf['t_bg']:.2f})",
                  f'segmenter ({refine})')
        for r, (im, rgb) in enumerate(zip(images, rgbs)):
            y = HEADER + r * (TITLE + PANEL) + TITLE
            masks = (im['gt'], None, p['seed'][r], p['crf'][r], p['seg'][r])
            for c in range(len(COLUMNS)):
                ax = axes(x0 + c * (PANEL + PANEL_GAP), y, PANEL, PANEL)
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.imshow(rgb, interpolation='nearest')
                    if b == 0:
                        ax.set_ylabel(im['img_id'], fontsize=7)
                elif c == 2:
                    ax.imshow(rgb, interpolation='nearest')
                    ax.imshow(p['cam'][r], cmap='jet', vmin=0, vmax=1,
                              alpha=0.5, interpolation='nearest')
                    ax.set_title(f"CAM: {p['cam_class'][r]}", fontsize=8,
                                 pad=3)
                else:
                    ax.imshow(PALETTE[masks[c - 1]], interpolation='nearest')
                if r == 0 and titles[c] is not None:
                    ax.set_title(titles[c], fontsize=8, pad=3)
    y = HEADER + len(images) * (TITLE + PANEL) + CURVE_GAP
    left = MARGIN_L + 0.5
    ax = axes(left, y, width - left - MARGIN_R - 0.1, CURVE)
    colours = ('tab:blue', 'tab:orange', 'tab:green', 'tab:red',
               'tab:purple', 'tab:brown')
    styles = ('-', '--', ':', '-.')  # curves that coincide stay visible
    for i, method in enumerate(methods):
        curve, colour = sweeps[method], colours[i % len(colours)]
        miou = [np.nan if m is None else m for m in curve['mIoU']]
        best_t, best = curve['best_threshold'], curve['best_mIoU']
        ax.plot(curve['thresholds'], miou, color=colour, lw=2,
                ls=styles[i % len(styles)],
                label=f'{names.get(method, method)}: best {best:.1f} '
                f'@ {best_t:.2f}')
        ax.axvline(best_t, color=colour, ls='--', lw=0.8)
        ax.plot([best_t], [best], 'o', color=colour, ms=7 - i)
    # headroom for the colour legend (upper left)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.45 * (hi - lo))
    ax.set_xlabel('background threshold')
    ax.set_ylabel('seed mIoU (%), train')
    ax.set_title('seed mIoU against the background threshold', fontsize=10)
    ax.grid(alpha=0.3)
    ax.add_artist(ax.legend(loc='lower center', fontsize=9))
    # the colours of the label ids in the masks
    from matplotlib.patches import Patch
    classes = panels[methods[0]]['classes']
    ids = sorted(set().union(*(
        np.unique(m).tolist() for p in panels.values()
        for m in p['seed'] + p['crf'] + p['seg']),
        *(np.unique(im['gt']).tolist() for im in images)))
    label = {0: 'background', 255: 'ignore'}
    handles = [Patch(facecolor=PALETTE[i] / 255, edgecolor='black', lw=0.5,
                     label=label.get(i) or (classes[i - 1] if i - 1 < len(
                         classes) else f'class {i - 1}')) for i in ids]
    ax.legend(handles=handles, loc='upper left', fontsize=8,
              ncol=(len(handles) + 2) // 3, title='mask colours',
              title_fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=DPI)
    return buf.getvalue()


def pipeline_figure(work_dir: str,
                    methods: Sequence[str],
                    preset: str = 'gen',
                    refine: str = 'crf',
                    num_images: int = 4,
                    out: Optional[str] = None,
                    pipeline: Optional[str] = None) -> str:
    """Write the figure of a pipeline work folder; see the module doc.

    Args:
        work_dir (str): The ``--work-dir`` of ``tools/run_pipeline.py``.
        methods (Sequence[str]): Methods (``cam``, ``c2am``,
            ``c2am_spatial``), one block of columns each, in this order.
        preset (str): The run's ``--preset``.
        refine (str): The masks the segmenters trained on (the last
            ``--refine``): ``work_dirs/seg_<method>_<refine>``. The mask
            column is the CRF pseudo-mask either way.
        num_images (int): Rows: the first val images with an object.
        out (str, optional): The PNG; defaults to ``<work_dir>/figure.png``.
        pipeline (str, optional): The run's ``--pipeline`` (a pipeline
            config file), instead of the preset's.

    Returns:
        str: The path written (atomically).

    Raises:
        FileNotFoundError: A checkpoint, metrics or sweep file of a stage
            is missing (named, with the stage that makes it).
    """
    if pipeline is None and preset not in presets():
        raise ValueError(f'unknown preset {preset!r} ({presets()})')
    spec = Methods(pipeline or preset)
    methods = list(methods)
    unknown = [m for m in methods if m not in spec.keys]
    if unknown or not methods:
        raise ValueError(f'methods must be some of {spec.keys}, got '
                         f'{methods}')
    if num_images < 1:
        raise ValueError(f'num_images must be >= 1, got {num_images}')
    work_dir = osp.abspath(work_dir)
    out = osp.abspath(out or osp.join(work_dir, 'figure.png'))
    data_root = osp.join(work_dir, spec.data_root)
    _require(osp.join(data_root, 'ImageSets', 'Segmentation', 'val.txt'),
             'the data stage (tools/generate_voc.py; preset voc: the link '
             'to --data-root)')
    # every file first: a missing one fails before any model is built
    files = {m: _method_files(work_dir, spec, m, refine) for m in methods}
    sweeps = {}
    for m in methods:
        with open(files[m]['sweep']) as f:
            sweeps[m] = json.load(f)
    with _cwd(work_dir):
        images = _val_images(data_root, files[methods[0]]['cls_config'],
                             num_images)
        panels = {m: _method_panels(files[m], images) for m in methods}
    png = _draw(images, methods, panels, sweeps, spec.names, refine)
    with atomic_open(out, 'wb') as f:
        f.write(png)
    return out


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='the --work-dir of run_pipeline.py')
    parser.add_argument('--methods', nargs='+',
                        help='methods of the pipeline config (default: its '
                        'default_methods)')
    parser.add_argument('--preset', choices=presets(), default='gen')
    parser.add_argument('--pipeline', metavar='FILE',
                        help='the run\'s pipeline config, if not the '
                        'preset\'s')
    parser.add_argument('--refine', choices=['crf', 'irn'], default='crf',
                        help='the masks the segmenters trained on')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--out', help='default: <work_dir>/figure.png')
    args = parser.parse_args(argv)
    methods = args.methods or Methods(
        args.pipeline or args.preset).default_methods
    path = pipeline_figure(args.work_dir, methods, args.preset, args.refine,
                           args.num_images, args.out, args.pipeline)
    print(path, flush=True)
    return path


if __name__ == '__main__':
    main()
