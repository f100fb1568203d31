"""Make pseudo-masks with IRN's random walk from CAM files and a trained IRNet.

Usage::

    python tools/make_irn_masks.py configs/c2am/irn_r50_voc.py CHECKPOINT \
        [--work-dir WORK_DIR] \
        [--cfg-options random_walk.cam_dir=... random_walk.bg_thr=0.25 ...]

Per image of ``random_walk.ann_file``: IRNet's flip-averaged boundary map at
stride 4, the affinities of the pairs within ``radius`` raised to ``beta``,
the stride-4 CAMs walked ``2 ** exp_times`` steps on the sparse transition
matrix (:func:`mmc2am.cam.random_walk.random_walk_labels`), upsampled,
divided by their maximum and compared with the background score ``bg_thr``.
One VOC palette PNG per image goes to ``random_walk.out_dir`` (default
``<work_dir>/irn_masks``), written atomically; finished masks are skipped, so
a killed run resumes (the settings are recorded beside the masks and a rerun
with other settings into the same folder is refused). With
``random_walk.evaluation`` set, the masks are scored against the ground
truth and ``<work_dir>/pseudo_mask_results.json`` is written; with
``random_walk.sweep_bg_thrs`` also the mIoU at each of those background
scores (from the same walk, over the evaluated images made in this run) and
the best one, so ``bg_thr`` can be chosen without rerunning the walk.
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import time
from typing import Dict, Optional, Tuple

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.fileio import list_from_file
from mmengine.logging import MMLogger, print_log
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar, mkdir_or_exist

from mmc2am.cam.cam_file import cam_file_path, load_cam_file
from mmc2am.cam.path_index import PathIndex
from mmc2am.cam.pseudo_mask import confusion_areas, load_label_png, save_label_png
from mmc2am.cam.random_walk import random_walk_scores, scores_to_labels
from mmc2am.datasets.voc_generator import VOC_CLASSES
from mmc2am.utils.io import atomic_open
from mmc2am.utils.mask_files import check_mask_params, first_ids

PARAMS_FILE = '.irn_mask_params.json'
# the name the CRF pseudo-mask stage uses too (tools/make_pseudo_masks.py)
RESULTS_FILE = 'pseudo_mask_results.json'
RW_KEYS = {
    'data_root', 'ann_file', 'img_dir', 'img_suffix', 'cam_dir', 'out_dir',
    'radius', 'beta', 'exp_times', 'bg_thr', 'device', 'evaluation',
    'classes', 'sweep_bg_thrs'
}


def parse_args():
    parser = argparse.ArgumentParser(
        description='Random-walk pseudo-masks from CAMs and an IRNet')
    parser.add_argument('config', help='IRNet config file')
    parser.add_argument('checkpoint', help='trained IRNet checkpoint')
    parser.add_argument('--work-dir', help='folder for masks, log, results')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. random_walk.cam_dir=...')
    return parser.parse_args()


def build_irnet(cfg: Config, checkpoint: str, device: str):
    """The IRNet of ``cfg`` with the trained weights, in eval mode.

    ``init_weights`` is not called: every weight comes from the checkpoint,
    and the config's pretrained backbone URL must not be downloaded.
    """
    from mmseg.registry import MODELS

    import mmc2am  # noqa: F401  (registers IRNet)

    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model.to(device).eval()


def make_mask(model, img_path: str, cam_path: str, out_path: str, rw,
              path_index: PathIndex, gt_path: Optional[str] = None,
              sweep: Optional[Dict[float, np.ndarray]] = None) -> int:
    """Random-walk pseudo-mask of one image, written to ``out_path``.

    With ``gt_path`` and ``sweep`` (background score -> (4, num_classes)
    confusion areas), the walked scores are also labelled and scored at
    every background score of ``sweep``, which is updated in place.

    Returns:
        int: 1 if the CAMs had to be resized to the boundary map (a CAM file
        made at another size), else 0.
    """
    img = mmcv.imread(img_path)  # BGR, as the training pipeline
    h, w = img.shape[:2]
    inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    data = model.data_preprocessor(dict(inputs=[inputs]), False)
    edge = model.predict_boundary(data['inputs'], [(h, w)])[0]
    cam_file = load_cam_file(cam_path)
    cams = torch.from_numpy(cam_file['cam']).to(edge.device)
    resized = 0
    if cams.shape[0] and tuple(cams.shape[1:]) != tuple(edge.shape):
        cams = F.interpolate(cams[None], size=tuple(edge.shape),
                             mode='bilinear', align_corners=False)[0]
        resized = 1
    scores = random_walk_scores(
        cams, edge, (h, w), beta=rw.beta, exp_times=rw.exp_times,
        radius=rw.radius, path_index=path_index)
    save_label_png(out_path,
                   scores_to_labels(scores, cam_file['keys'], rw.bg_thr))
    if gt_path is not None and sweep:
        gt = load_label_png(gt_path)
        num_classes = next(iter(sweep.values())).shape[1]
        for thr, areas in sweep.items():
            pred = scores_to_labels(scores, cam_file['keys'], thr)
            areas += confusion_areas(pred, gt, num_classes)['strict']
    return resized


def areas_to_miou(areas: np.ndarray) -> Tuple[float, dict]:
    """mIoU in percent (NaN classes left out, as mmseg) and mmseg's metrics
    from (4, num_classes) intersect / union / pred / label areas."""
    from mmseg.evaluation.metrics import IoUMetric

    # mmseg's helper takes the four area tensors, returns numpy arrays
    m = IoUMetric.total_area_to_metrics(
        *torch.from_numpy(areas), metrics=['mIoU'])
    return float(np.nanmean(m['IoU'])) * 100, m


def evaluate(rw, out_dir: str, img_ids: list, logger) -> dict:
    """Score the masks against the ground truth (mIoU in percent)."""
    ev = rw.evaluation
    num_classes = ev.get('num_classes', 21)
    eval_ids = list_from_file(osp.join(rw.data_root, ev.ann_file))
    made = set(img_ids)
    skipped = [i for i in eval_ids if i not in made]
    eval_ids = [i for i in eval_ids if i in made]
    if skipped:
        print_log(f'{len(skipped)} images of {ev.ann_file} have no mask '
                  f'(not in {rw.ann_file}) and are not evaluated: '
                  f'{first_ids(skipped)}', logger)
    gt_dir = osp.join(rw.data_root, ev.gt_dir)
    areas = np.zeros((4, num_classes))
    for img_id in eval_ids:
        pred = load_label_png(osp.join(out_dir, f'{img_id}.png'))
        gt = load_label_png(osp.join(gt_dir, f'{img_id}.png'))
        areas += confusion_areas(pred, gt, num_classes)['strict']
    miou, m = areas_to_miou(areas)
    classes = rw.get('classes', VOC_CLASSES)
    return dict(
        mIoU=round(miou, 2),
        aAcc=round(float(m['aAcc']) * 100, 2),
        num_eval=len(eval_ids),
        eval_ann_file=ev.ann_file,
        IoU={
            name: None if math.isnan(v) else round(float(v) * 100, 2)
            for name, v in zip(classes, m['IoU'])
        })


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    rw = cfg.random_walk
    unknown = sorted(set(rw) - RW_KEYS)
    if unknown:
        # a misspelt --cfg-options key would otherwise be silently ignored
        raise KeyError(f'unknown random_walk keys {unknown}; valid: '
                       f'{sorted(RW_KEYS)}')
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    out_dir = rw.get('out_dir') or osp.join(work_dir, 'irn_masks')
    mkdir_or_exist(out_dir)
    mkdir_or_exist(work_dir)
    # one logger per work dir (an existing instance keeps its log file)
    name = f'make_irn_masks:{osp.abspath(work_dir)}'
    if MMLogger.check_instance_created(name):
        logger = MMLogger.get_instance(name)
    else:
        logger = MMLogger.get_instance(
            name, log_file=osp.join(work_dir, 'irn_masks.log'))
    if not rw.get('cam_dir'):
        raise ValueError('set random_walk.cam_dir, the folder of the CAM '
                         'files (--cfg-options random_walk.cam_dir=...)')

    img_ids = list_from_file(osp.join(rw.data_root, rw.ann_file))
    missing = [i for i in img_ids
               if not osp.exists(cam_file_path(rw.cam_dir, i))]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of {len(img_ids)} images of {rw.ann_file} have '
            f'no CAM file in {rw.cam_dir}: {first_ids(missing)}')
    check_mask_params(out_dir, PARAMS_FILE, dict(
        checkpoint=osp.abspath(args.checkpoint),
        cam_dir=osp.abspath(rw.cam_dir), radius=rw.radius, beta=rw.beta,
        exp_times=rw.exp_times, bg_thr=rw.bg_thr,
        test_pad_size=cfg.model.get('test_pad_size'),
        test_flip=cfg.model.get('test_flip', True)))
    # a killed run can leave the temporaries of atomic_open behind
    for tmp in glob.glob(osp.join(out_dir, '.*.png.*.tmp')):
        os.remove(tmp)
    todo = [i for i in img_ids
            if not osp.exists(osp.join(out_dir, f'{i}.png'))]
    print_log(f'{len(img_ids) - len(todo)} of {len(img_ids)} masks exist in '
              f'{out_dir}; making {len(todo)} (radius={rw.radius}, '
              f'beta={rw.beta}, steps=2^{rw.exp_times}, '
              f'bg_thr={rw.bg_thr})', logger)

    # Background-score sweep: the walked scores of the evaluated images are
    # labelled at every score of sweep_bg_thrs while the masks are made (one
    # walk per image), so no rerun per threshold is needed. Only images made
    # in this run are swept.
    sweep, sweep_ids, num_swept = {}, set(), 0
    if rw.get('evaluation') and rw.get('sweep_bg_thrs'):
        num_classes = rw.evaluation.get('num_classes', 21)
        sweep = {float(t): np.zeros((4, num_classes))
                 for t in rw.sweep_bg_thrs}
        sweep_ids = set(list_from_file(
            osp.join(rw.data_root, rw.evaluation.ann_file))) & set(todo)

    start = time.time()
    resized = 0
    if todo:
        device = rw.get('device') or ('cuda'
                                      if torch.cuda.is_available() else 'cpu')
        model = build_irnet(cfg, args.checkpoint, device)
        path_index = PathIndex(rw.radius)
        bar = ProgressBar(len(todo))
        for img_id in todo:
            gt_path = None
            if img_id in sweep_ids:
                gt_path = osp.join(rw.data_root, rw.evaluation.gt_dir,
                                   f'{img_id}.png')
                num_swept += 1
            resized += make_mask(
                model,
                osp.join(rw.data_root, rw.img_dir, img_id + rw.img_suffix),
                cam_file_path(rw.cam_dir, img_id),
                osp.join(out_dir, f'{img_id}.png'), rw, path_index,
                gt_path, sweep)
            bar.update()
        print()
    if resized:
        print_log(f'{resized} CAM files did not match the stride-4 grid of '
                  'their image and were resized', logger, level=30)

    results = dict(
        config=osp.abspath(args.config),
        checkpoint=osp.abspath(args.checkpoint),
        cam_dir=osp.abspath(rw.cam_dir), out_dir=osp.abspath(out_dir),
        radius=rw.radius, beta=rw.beta, exp_times=rw.exp_times,
        bg_thr=rw.bg_thr, num_images=len(img_ids), num_made=len(todo),
        seconds=round(time.time() - start, 1))
    if rw.get('evaluation'):
        results.update(evaluate(rw, out_dir, img_ids, logger))
        print_log(f'IRN pseudo-mask mIoU {results["mIoU"]:.2f} over '
                  f'{results["num_eval"]} images of '
                  f'{results["eval_ann_file"]}', logger)
    if num_swept:
        curve = {t: round(areas_to_miou(a)[0], 2) for t, a in sweep.items()}
        best = max(curve, key=curve.get)
        results.update(sweep_mIoU=curve, sweep_num_eval=num_swept,
                       best_bg_thr=best, best_mIoU=curve[best])
        print_log('mIoU by background score: ' + ', '.join(
            f'{t:.2f}: {v:.2f}' for t, v in curve.items()) +
            f' (best {best:.2f}, {num_swept} images)', logger)
    mkdir_or_exist(work_dir)
    with atomic_open(osp.join(work_dir, RESULTS_FILE), 'w') as f:
        json.dump(results, f, indent=2)
    print_log(f'results: {osp.join(work_dir, RESULTS_FILE)}', logger)


if __name__ == '__main__':
    main()
