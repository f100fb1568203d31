"""Run the whole WSSS pipeline, for plain CAM, C2AM, C2AM spatial, ReCAM and
AdvCAM (or the methods of a pipeline config of your own), and tabulate it.

The methods and their configs are data: a pipeline config per preset,
``configs/pipelines/gen.py`` (generated data, the default) and ``voc.py``,
or ``--pipeline FILE`` (one that inherits a preset's with ``_base_`` and
adds methods). :class:`mmc2am.pipeline.Methods` turns a method's configs
into a list of ``(tool, config)`` stages, each run by
:class:`mmc2am.pipeline.Engine` as the README's stage-by-stage commands run
it::

    python tools/train.py CONFIG            python tools/test.py CONFIG [CKPT]

with the work folder as the current folder, so every stage writes to
``<work-dir>/work_dirs/<config name>`` and finds its inputs where the
previous stage's config left them (the configs' default folders chain:
CAM files -> CRF masks -> IRNet -> random-walk masks). Every setting of a
method (scales, thresholds, background scores) lives in its configs; this
script only tells the segmenter which masks to train on (the
generated-data pseudo-mask configs derive their thresholds from the
method's seed stage, reading its ``test_metrics.json`` from its default
folder: ``crf_gen_cam.py``). The data is ``<work-dir>/<data_root>``:
generated there (preset ``gen``, with the options below; a work folder
whose data was made with other options is refused), or a link to
``--data-root`` (preset ``voc``; with ``--generate``, generated data of the
preset's ``generator`` options instead: VOC-sized images of the 20
classes).

``--smoke`` adds the pipeline config's ``smoke`` options to the stages'
``--cfg-options`` (``configs/pipelines/voc.py``: a few images and one
iteration per stage, pretrained weights off; each fine-tuning starts from
its start method's last checkpoint), so the real configs run end to end in
minutes on a CPU; the results are meaningless.

Every method but plain CAM starts from the plain-CAM classifier (its
``start``): C2AM, C2AM spatial and ReCAM fine-tune it (their configs'
``load_from``); AdvCAM trains nothing (``trains=False``): its seed and CAM
file stages are AdvCAM's test mode on plain CAM's checkpoint, run in
AdvCAM's own folders (``work_dirs/advcam_*``), so plain CAM's results stay.

A stage whose outputs exist is skipped (a ``.done_*`` file in its work
folder; a killed training resumes from its last checkpoint, a killed test
stage continues where it stopped), so rerunning the same command after a
crash continues. The results table (seed / pseudo-mask / segmenter mIoU per
method) is printed and written to ``<work-dir>/results.md`` and
``results.json``.

``--seeds N`` repeats every stage of every method with N training seeds of
the classifiers: run 0 is the default run (the configs' ``randomness.seed``,
0) in the work folder, run ``s`` > 0 runs in ``<work-dir>/seed<s>`` (same
data) with ``randomness.seed=s`` on the classifier stages of the trained
methods (AdvCAM's inference draws nothing at random: it differs by the
plain-CAM classifier of the run); the per-run tables and one of mean +- std
(sample std over the N runs) are printed and written to
``results_seeds.md`` / ``results_seeds.json``.

Examples::

    python tools/run_pipeline.py                       # generated data, CPU
    python tools/run_pipeline.py --seeds 3             # mean +- std
    python tools/run_pipeline.py --methods cam recam advcam
    python tools/run_pipeline.py --pipeline my_pipeline.py --methods mine
    python tools/run_pipeline.py --preset voc --gpus 8 --work-dir work_dirs/voc
    python tools/run_pipeline.py --preset voc --generate --smoke \
        --methods cam c2am c2am_spatial recam advcam conta \
        --work-dir work_dirs/voc_smoke   # CPU, minutes
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am import pipeline  # noqa: E402
from mmc2am.utils.io import atomic_open  # noqa: E402


def load_methods(args: argparse.Namespace) -> pipeline.Methods:
    """The pipeline config of ``--pipeline``, else of ``--preset``."""
    return pipeline.Methods(getattr(args, 'pipeline', None) or args.preset)


def parse_args(argv=None):
    # the pipeline config first: --methods' choices are its methods
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('--preset', default='gen')
    pre.add_argument('--pipeline')
    known, _ = pre.parse_known_args(argv)
    methods = None
    if known.pipeline or known.preset in pipeline.presets():
        try:
            methods = load_methods(known)
        except (FileNotFoundError, ValueError) as e:
            pre.error(str(e))

    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--preset', choices=pipeline.presets(), default='gen',
                        help='configs/pipelines/<preset>.py')
    parser.add_argument('--pipeline', metavar='FILE', help=(
        'a pipeline config instead of the preset\'s (e.g. one that inherits '
        'it and adds a method)'))
    parser.add_argument('--work-dir', default='work_dirs/pipeline')
    parser.add_argument('--data-root',
                        help='VOC2012 root (preset voc; default: the '
                        'preset\'s folder in the repository)')
    keys = methods.keys if methods else []
    parser.add_argument(
        '--methods', nargs='+',
        default=list(methods.default_methods) if methods else [],
        choices=keys,
        help=(f'{methods.reference} always runs; a method also runs the '
              'one it starts from (c2am, c2am_spatial and recam fine-tune '
              'cam\'s classifier, advcam tests it)') if methods else None)
    parser.add_argument(
        '--refine', nargs='+',
        default=list(methods.refine) if methods else ['crf'],
        choices=['crf', 'irn'],
        help='pseudo-mask refinements; the segmenter trains on the last '
        '(default: the pipeline config\'s refine, else crf)')
    parser.add_argument(
        '--generate', action='store_true',
        help='generated data (the generator options below, defaults from '
        'the pipeline config\'s generator) instead of --data-root; the '
        'gen preset always generates')
    parser.add_argument(
        '--smoke', action='store_true',
        help='add the pipeline config\'s smoke options to the stages: a '
        'few images and one iteration each, pretrained weights off (checks '
        'that every stage runs; the results are meaningless)')
    parser.add_argument(
        '--until', choices=['seeds', 'masks', 'segmenter'],
        default='segmenter',
        help='stop after the seed tests, after the pseudo-masks, or run '
        'everything (default); the table shows - for what did not run')
    parser.add_argument(
        '--fixed-thr', type=float, default=None, metavar='T',
        help='add a column: seed mIoU at this background threshold (from '
        'the seed test\'s curve), besides the best threshold\'s')
    parser.add_argument(
        '--gpus', type=int, default=1,
        help='processes per stage; >1 launches tools/dist_*.sh (torchrun)')
    pipeline.add_cfg_options_argument(
        parser, 'cam_r18_gen:train_cfg.max_epochs=1')
    parser.add_argument(
        '--jobs', type=int, default=None,
        help='stages run side by side (default: the pipeline config\'s '
        'jobs, at most the CPU count: 2 for the generated data, where each '
        'stage uses one CPU thread; 1 for voc)')
    parser.add_argument(
        '--no-fork', action='store_true',
        help='start every stage as a new interpreter (python tools/'
        '<tool>.py ...) rather than forking it from a process that has '
        'imported torch and OpenMMLab once (mmc2am.pipeline.launcher)')
    parser.add_argument(
        '--seeds', type=int, default=1,
        help='repeat the pipeline with this many training seeds of the '
        'classifiers (randomness.seed 0..N-1) and print mean +- std')
    pipeline.add_generator_arguments(
        parser, 'generated data (preset gen, or --generate)')
    if methods is not None:
        parser.set_defaults(**methods.generator)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error('--seeds must be at least 1')
    if args.jobs is None:
        args.jobs = min(methods.jobs, os.cpu_count() or 1)
    if args.jobs < 1:
        parser.error('--jobs must be at least 1')
    pipeline.check_cfg_options(parser, args.cfg_options)
    if args.smoke and methods is not None and not methods.smoke:
        parser.error(f'{methods.file} has no smoke options')
    try:
        pipeline.generator_options(args, args.context_prob)
    except ValueError as e:
        parser.error(str(e))
    return args


class Pipeline:
    """Runs the stages in one work folder; see the module docstring."""

    def __init__(self, args, seed: Optional[int] = None,
                 data_from: Optional[str] = None):
        """``seed``: the classifiers' ``randomness.seed`` (None: the
        configs'); its run is in ``<work-dir>/seed<seed>``, on the data of
        ``data_from`` (the work folder of run 0)."""
        self.args = args
        self.seed = seed
        self.data_from = data_from
        self.methods = load_methods(args)
        self.work_dir = osp.abspath(args.work_dir)
        if seed is not None:
            self.work_dir = osp.join(self.work_dir, f'seed{seed}')
        os.makedirs(self.work_dir, exist_ok=True)
        self.smoke = bool(getattr(args, 'smoke', False))
        # --smoke's options first: the command line's override them
        smoke = self.methods.smoke_options(self.methods.to_run(
            args.methods)) if self.smoke else []
        self.engine = pipeline.Engine(
            'pipeline', self.path('pipeline.log'),
            jobs=getattr(args, 'jobs', 1), gpus=args.gpus,
            cfg_options=smoke + list(getattr(args, 'cfg_options', [])),
            expected=self.methods.expected,
            stage_threads=self.methods.stage_threads,
            fork=not getattr(args, 'no_fork', False))

    def path(self, *parts: str) -> str:
        return osp.join(self.work_dir, *parts)

    def data(self) -> None:
        """The data folder the configs expect, under the work folder."""
        a, m = self.args, self.methods
        target = self.path(m.data_root)
        if self.data_from:  # a --seeds run: the data of run 0
            pipeline.link_data(osp.join(self.data_from, m.data_root), target)
        elif not (m.generate_data or getattr(a, 'generate', False)):
            pipeline.link_data(
                osp.abspath(a.data_root or osp.join(ROOT, m.data_root)),
                target)
        else:
            pipeline.prepare_generated(self.engine, target, self.work_dir, a,
                              a.context_prob)

    def graph(self) -> Tuple[Dict[Tuple[str, int], pipeline.Stage],
                             Dict[Tuple[str, int], List[Tuple[str, int]]]]:
        """Every stage of every method, keyed ``(method, index)``, and the
        stages each one waits for (:meth:`Methods.graph`)."""
        return self.methods.graph(self.args.methods, self.args.refine[-1],
                                  self.until(), self.seed,
                                  load_start=self.smoke)

    def until(self) -> str:
        """What the last stages make (``--until``)."""
        return getattr(self.args, 'until', pipeline.KINDS[-1])

    def run_stages(self) -> None:
        """Run the stages of :meth:`graph` (:class:`Engine`)."""
        nodes, deps = self.graph()
        label = '' if self.seed is None else f'seed{self.seed}'
        for k, st in nodes.items():
            self.engine.add(k, st, self.work_dir, deps[k], label)
        self.engine.run()

    def results(self) -> Dict[str, dict]:
        return pipeline.method_rows(
            self.work_dir, self.methods, self.args.methods,
            self.args.refine[-1], getattr(self.args, 'fixed_thr', None))

    def table(self, rows: Dict[str, dict], runs: int = 1) -> str:
        return pipeline.methods_table(
            rows, self.methods.names, self.args.refine[-1], runs,
            getattr(self.args, 'fixed_thr', None))

    def __call__(self) -> Dict[str, dict]:
        start = time.time()
        self.data()
        self.run_stages()
        rows = self.results()
        text = self.table(rows)
        with atomic_open(self.path('results.json'), 'w') as f:
            json.dump(rows, f, indent=2)
        with atomic_open(self.path('results.md'), 'w') as f:
            f.write(text)
        self.engine.say(f'all stages done in {time.time() - start:.0f} s')
        self.figure()
        print('\n' + text, flush=True)
        return rows

    def figure(self) -> None:
        """tools/pipeline_figure.py: val images through every stage and the
        seed sweeps (VOC: the real data's images are not drawn)."""
        if not self.methods.figure:
            return
        if self.until() != pipeline.KINDS[-1]:
            self.engine.say('no figure: it draws the segmenter, which '
                            '--until left out')
            return
        out = self.path('figure.png')
        if osp.exists(out) and self.engine.stages_run == 0:
            # every stage was done before, and so was their figure
            self.engine.say(f'figure: {out} (done before, kept)')
            return
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'pipeline_figure.py'),
               self.work_dir, '--pipeline', self.methods.file, '--refine',
               self.args.refine[-1], '--methods', *self.args.methods,
               '--out', out]
        log = self.path('figure.log')
        if osp.exists(log):
            os.remove(log)
        # run as the data step is: forked like the stages (no second start
        # of the stack), a new interpreter under --no-fork; SystemExit
        # naming figure.log when it fails
        self.engine.call('figure', cmd, log)
        self.engine.say(f'figure: {out}')


def main(argv=None):
    args = parse_args(argv)
    first = Pipeline(args)
    args.methods = first.methods.to_run(args.methods)
    runs = [first()]
    if args.seeds == 1:
        return
    for seed in range(1, args.seeds):
        runs.append(Pipeline(args, seed=seed, data_from=first.work_dir)())
    rows = pipeline.runs_mean_std(runs)
    text = '\n'.join(
        [first.table(rows, runs=len(runs))] +
        [f'run {i} (randomness.seed {i}):\n' + first.table(r)
         for i, r in enumerate(runs)])
    with atomic_open(first.path('results_seeds.json'), 'w') as f:
        json.dump(dict(mean_std=rows, runs=runs), f, indent=2)
    with atomic_open(first.path('results_seeds.md'), 'w') as f:
        f.write(text)
    first.engine.say(f'{len(runs)} runs: {first.path("results_seeds.md")}')
    print('\n' + text, flush=True)


if __name__ == '__main__':
    main()
