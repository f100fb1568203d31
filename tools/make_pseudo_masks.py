"""Make pseudo-masks (IRN's confident labels) from CAM files.

Usage::

    python tools/make_pseudo_masks.py configs/c2am/pseudo_mask_voc.py \
        [--work-dir WORK_DIR] [--cfg-options cam_dir=... t_fg=0.30 ...]

Writes one VOC palette PNG per image of ``ann_file`` into ``out_dir``
(default ``<work_dir>/pseudo_masks``); finished masks are skipped, so a killed
run resumes. With ``evaluation`` set, the masks of the images listed there are
scored against the ground truth and the result is written to
``<work_dir>/pseudo_mask_results.json``.
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import time
from functools import partial

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.fileio import list_from_file
from mmengine.logging import MMLogger, print_log
from mmengine.utils import mkdir_or_exist, track_parallel_progress, track_progress

from mmc2am.cam.cam_file import cam_file_path
from mmc2am.cam.pseudo_mask import (
    IGNORE_INDEX,
    confusion_areas,
    load_label_png,
    make_pseudo_mask_file,
)
from mmc2am.datasets.voc_generator import VOC_CLASSES
from mmc2am.utils.io import atomic_open
from mmc2am.utils.mask_files import check_mask_params, first_ids

PARAMS_FILE = '.pseudo_mask_params.json'
RESULTS_FILE = 'pseudo_mask_results.json'


def parse_args():
    parser = argparse.ArgumentParser(
        description='Make pseudo-masks from CAM files')
    parser.add_argument('config', help='pseudo-mask config file')
    parser.add_argument('--work-dir', help='folder for masks, log, results')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. cam_dir=... t_fg=0.3')
    return parser.parse_args()


def evaluate(cfg, out_dir: str, img_ids: list, logger) -> dict:
    """Score the pseudo-masks against the ground truth (mIoU in percent).

    ``mIoU`` counts a pseudo-mask 255 on a GT-labelled pixel as a miss (the
    number comparable to masks without ignore, e.g. IRN's final ones);
    ``mIoU_confident`` scores only the pixels the pseudo-mask labels;
    ``ignored_pct`` is the share of GT-labelled pixels set to 255.
    """
    from mmseg.evaluation.metrics import IoUMetric

    ev = cfg.evaluation
    num_classes = ev.get('num_classes', 21)
    eval_ids = list_from_file(osp.join(cfg.data_root, ev.ann_file))
    made = set(img_ids)
    skipped = [i for i in eval_ids if i not in made]
    eval_ids = [i for i in eval_ids if i in made]
    if skipped:
        print_log(f'{len(skipped)} images of {ev.ann_file} have no '
                  f'pseudo-mask (not in {cfg.ann_file}) and are not '
                  f'evaluated: {first_ids(skipped)}', logger)
    gt_dir = osp.join(cfg.data_root, ev.gt_dir)
    missing = [i for i in eval_ids
               if not osp.exists(osp.join(gt_dir, f'{i}.png'))]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of {len(eval_ids)} images to evaluate have no '
            f'ground truth in {gt_dir}: {first_ids(missing)}')
    strict = np.zeros((4, num_classes))
    confident = np.zeros((4, num_classes))
    ignored = valid = 0
    for img_id in eval_ids:
        pred = load_label_png(osp.join(out_dir, f'{img_id}.png'))
        gt = load_label_png(osp.join(gt_dir, f'{img_id}.png'))
        areas = confusion_areas(pred, gt, num_classes)
        strict += areas['strict']
        confident += areas['confident']
        ignored += areas['ignored']
        valid += areas['valid']

    def to_metrics(areas):
        # mmseg's helper takes the four area tensors, returns numpy arrays.
        m = IoUMetric.total_area_to_metrics(
            *torch.from_numpy(areas), metrics=['mIoU'])
        # Classes absent from both GT and masks give NaN and are left out of
        # the mean, as in mmseg's IoUMetric.
        return float(np.nanmean(m['IoU'])) * 100, m

    miou, m = to_metrics(strict)
    miou_conf, _ = to_metrics(confident)
    classes = cfg.get('classes', VOC_CLASSES)
    per_class = {
        name: None if math.isnan(v) else round(float(v) * 100, 2)
        for name, v in zip(classes, m['IoU'])
    }
    return dict(
        mIoU=round(miou, 2),
        mIoU_confident=round(miou_conf, 2),
        ignored_pct=round(100 * ignored / max(valid, 1), 2),
        aAcc=round(float(m['aAcc']) * 100, 2),
        num_eval=len(eval_ids),
        eval_ann_file=ev.ann_file,
        IoU=per_class)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    out_dir = cfg.get('out_dir') or osp.join(work_dir, 'pseudo_masks')
    mkdir_or_exist(out_dir)
    mkdir_or_exist(work_dir)
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    # A fresh name per run: MMLogger instances are process-wide and keep
    # their first log file.
    logger = MMLogger.get_instance(
        f'make_pseudo_masks_{time.time_ns()}',
        log_file=osp.join(work_dir, f'pseudo_masks_{timestamp}.log'))

    if not cfg.get('cam_dir'):
        raise ValueError('set cam_dir, the folder of the CAM files '
                         '(--cfg-options cam_dir=...)')
    # Fail before starting workers, not in each of them.
    if cfg.mode not in ('crf', 'threshold'):
        raise ValueError(f"mode must be 'crf' or 'threshold', got {cfg.mode!r}")
    if cfg.t_bg > cfg.t_fg:
        raise ValueError(f't_bg ({cfg.t_bg}) must not exceed t_fg ({cfg.t_fg})')
    img_ids = list_from_file(osp.join(cfg.data_root, cfg.ann_file))
    missing = [i for i in img_ids
               if not osp.exists(cam_file_path(cfg.cam_dir, i))]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of {len(img_ids)} images of {cfg.ann_file} have '
            f'no CAM file in {cfg.cam_dir}: {first_ids(missing)}')
    crf = cfg.crf.to_dict() if cfg.mode == 'crf' else None
    check_mask_params(out_dir, PARAMS_FILE, dict(
        cam_dir=osp.abspath(cfg.cam_dir), cam_key=cfg.cam_key,
        mode=cfg.mode, t_fg=cfg.t_fg, t_bg=cfg.t_bg, crf=crf))
    # A killed run can leave the temporaries of atomic_open behind.
    for tmp in glob.glob(osp.join(out_dir, '.*.png.*.tmp')):
        os.remove(tmp)

    todo = [i for i in img_ids
            if not osp.exists(osp.join(out_dir, f'{i}.png'))]
    print_log(f'{len(img_ids) - len(todo)} of {len(img_ids)} pseudo-masks '
              f'exist in {out_dir}; making {len(todo)} (mode={cfg.mode}, '
              f't_fg={cfg.t_fg}, t_bg={cfg.t_bg})', logger)
    worker = partial(
        make_pseudo_mask_file,
        img_dir=osp.join(cfg.data_root, cfg.img_dir),
        cam_dir=cfg.cam_dir,
        out_dir=out_dir,
        t_fg=cfg.t_fg,
        t_bg=cfg.t_bg,
        mode=cfg.mode,
        crf=crf,
        cam_key=cfg.cam_key,
        img_suffix=cfg.get('img_suffix', '.jpg'))
    if todo:
        num_workers = min(cfg.get('num_workers', 1), len(todo))
        if num_workers > 1:
            track_parallel_progress(worker, todo, nproc=num_workers)
        else:
            track_progress(worker, todo)

    results = dict(
        config=osp.abspath(args.config), out_dir=osp.abspath(out_dir),
        mode=cfg.mode, t_fg=cfg.t_fg, t_bg=cfg.t_bg,
        num_images=len(img_ids), num_made=len(todo),
        ignore_index=IGNORE_INDEX)
    if cfg.get('evaluation'):
        results.update(evaluate(cfg, out_dir, img_ids, logger))
        print_log(
            f'pseudo-mask mIoU {results["mIoU"]:.2f} (255 counted as miss), '
            f'{results["mIoU_confident"]:.2f} on labelled pixels, '
            f'{results["ignored_pct"]:.2f}% ignored, over '
            f'{results["num_eval"]} images of {results["eval_ann_file"]}',
            logger)
    with atomic_open(osp.join(work_dir, RESULTS_FILE), 'w') as f:
        json.dump(results, f, indent=2)
    print_log(f'results: {osp.join(work_dir, RESULTS_FILE)}', logger)


if __name__ == '__main__':
    main()
