"""Test a checkpoint with an mmc2am / mmseg / mmpretrain config.

mmseg 1.x's tools/test.py, importing mmc2am and CPU-safe under torchrun.
Everything a stage does is in its config; this parses the arguments, merges
``--cfg-options``, builds the Runner and calls ``runner.test()``, then writes
the metrics to ``<work_dir>/test_metrics.json``.

- classifier configs: seed evaluation (``SeedMetric`` over a sweep of
  background thresholds); the ``*_trainaug.py`` ones also write the CAM files
  (``CAMFileHook``);
- ``configs/crf/crf_*.py``: the CRF pseudo-masks (no checkpoint);
- ``irn_*.py``: the random-walk masks of a trained IRNet.

    python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--cfg-options ...]
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmc2am.utils import atomic_open, destroy_dist, prepare_cfg_for_device
from mmc2am.utils.input_checks import check_cfg_options, check_test_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='checkpoint file (none for stages without weights, e.g. the '
        'CRF pseudo-masks)')
    parser.add_argument(
        '--work-dir',
        help=('if specified, the evaluation metric results will be dumped '
              'into the directory as json'))
    parser.add_argument(
        '--out',
        type=str,
        help='The directory to save output prediction for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
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
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg, args):
    if cfg.model.get('test_cfg', {}).get('mode') == 'cam':
        # CAM test mode has no class predictions to draw: show CAM overlays
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='CAMVisualizationHook')
        ]
        if args.show_dir:
            cfg.visualizer['save_dir'] = args.show_dir
        return cfg
    default_hooks = cfg.default_hooks
    if 'visualization' in default_hooks:
        visualization_hook = default_hooks['visualization']
        # Turn on visualization: mmseg's SegVisualizationHook has `draw`,
        # mmpretrain's VisualizationHook (classifier configs) `enable`
        if 'enable' in visualization_hook:
            visualization_hook['enable'] = True
        else:
            visualization_hook['draw'] = True
        if args.show:
            visualization_hook['show'] = True
            visualization_hook['wait_time'] = args.wait_time
        if args.show_dir:
            visualizer = cfg.visualizer
            visualizer['save_dir'] = args.show_dir
    else:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks. '
            'Refer to usage "visualization=dict(type=\'VisualizationHook\')"')
    return cfg


def _takes(cfg, metric_type, arg: str) -> bool:
    """Whether the metric class ``metric_type`` (in the config's scope)
    has the ``__init__`` argument ``arg``."""
    import inspect

    from mmengine.registry import METRICS

    import mmc2am  # noqa: F401  (registers SeedMetric, PseudoMaskMetric)
    if not isinstance(metric_type, str):
        cls = metric_type
    else:  # the scope's registry, its modules imported
        with METRICS.switch_scope_and_registry(
                cfg.get('default_scope')) as registry:
            cls = registry.get(metric_type)
    return cls is not None and arg in inspect.signature(cls).parameters


def main():
    args = parse_args()

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        # a misspelt top-level key (load_frm=) would be added and ignored
        check_cfg_options(cfg, args.cfg_options, 'tools/test.py')
        cfg.merge_from_dict(args.cfg_options)

    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.checkpoint is not None:
        cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model

    # add output_dir in metric (keep_results: only for metrics that take it,
    # mmseg's CityscapesMetric; SeedMetric / PseudoMaskMetric keep theirs)
    if args.out is not None:
        for metric in (cfg.test_evaluator if isinstance(
                cfg.test_evaluator, list) else [cfg.test_evaluator]):
            metric['output_dir'] = args.out
            if _takes(cfg, metric['type'], 'keep_results'):
                metric['keep_results'] = True

    prepare_cfg_for_device(cfg)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    # Before any metric or mask is written: a checkpoint without the model's
    # weights (another stage's, or none) is refused, not only logged by
    # mmengine as "do not match exactly". Models without weights (the CRF
    # mask stages) take none.
    check_test_checkpoint(runner.model, cfg.get('load_from'))
    metrics = runner.test()
    # A machine-readable copy of the metrics for scripts (the pipeline's
    # results table); mmengine only logs them.
    if is_main_process():
        with atomic_open(osp.join(cfg.work_dir, 'test_metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=2, default=float)
    destroy_dist()


if __name__ == '__main__':
    main()
