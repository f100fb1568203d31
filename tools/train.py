"""Train with an mmc2am / mmseg / mmpretrain config (mmseg 1.x's tools/train.py)."""
import argparse
import logging
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

from mmc2am.utils import destroy_dist, prepare_cfg_for_device
from mmc2am.utils.input_checks import check_cfg_options, check_train_batches


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        # a misspelt top-level key (load_frm=) would be added and ignored
        check_cfg_options(cfg, args.cfg_options, 'tools/train.py')
        cfg.merge_from_dict(args.cfg_options)

    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp is True:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in your config.',
                logger='current',
                level=logging.WARNING)
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    cfg.resume = args.resume
    if args.resume and cfg.get('load_from'):
        # mmengine resumes *from load_from* when both are set, which for a
        # fine-tuning config (C2AM's load_from is the plain-CAM checkpoint)
        # would restart from the start point's epoch and optimizer. --resume
        # means the latest checkpoint of this work dir; with none yet, the
        # run starts afresh from load_from.
        latest = find_latest_checkpoint(cfg.work_dir)
        if latest == '':
            raise RuntimeError(
                f'--resume: {osp.join(cfg.work_dir, "last_checkpoint")} is '
                'empty (a kill while mmengine rewrote it): write the path of '
                'the newest complete epoch_*.pth into it')
        if latest is not None:
            cfg.load_from = latest
        else:
            cfg.resume = False
            print_log(
                f'--resume: no checkpoint in {cfg.work_dir} yet; starting '
                f'from load_from={cfg.load_from}',
                logger='current')
    prepare_cfg_for_device(cfg)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    # Builds the train loop, what runner.train() does first: a split smaller
    # than one batch (drop_last) is named here, not by mmengine's
    # "`epoch_length` must be a positive integer, but got 0".
    check_train_batches(runner)
    runner.train()
    destroy_dist()


if __name__ == '__main__':
    main()
