"""Run the whole WSSS pipeline, for plain CAM, C2AM, C2AM spatial, ReCAM and
AdvCAM, and tabulate it.

The pipeline is a list of ``(tool, config)`` stages per method
(:func:`stages`), each run as the README's stage-by-stage commands run it::

    python tools/train.py CONFIG            python tools/test.py CONFIG [CKPT]

with the work folder as the current folder, so every stage writes to
``<work-dir>/work_dirs/<config name>`` and finds its inputs where the
previous stage's config left them (the configs' default folders chain:
CAM files -> CRF masks -> IRNet -> random-walk masks). Every setting of a
method (scales, thresholds, background scores) lives in its configs; this
script only chooses the configs, and tells the segmenter which masks to
train on (the generated-data pseudo-mask configs derive their thresholds
from the method's seed stage, reading its ``test_metrics.json`` from its
default folder: ``crf_gen_cam.py``). The data is
``<work-dir>/data/...``: generated there (preset ``gen``, with the options
below; a work folder whose data was made with other options is refused),
or a link to ``--data-root`` (preset ``voc``).

Every method but plain CAM starts from the plain-CAM classifier
(:data:`START`): C2AM, C2AM spatial and ReCAM fine-tune it (their configs'
``load_from``); AdvCAM trains nothing (:data:`TRAINED`): its seed and CAM
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
    python tools/run_pipeline.py --preset voc --gpus 8 --work-dir work_dirs/voc
"""
import argparse
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List, NamedTuple, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am.utils.config_files import find_config  # noqa: E402
from mmc2am.utils.io import atomic_open, latest_seed_sweep, pick_metric, seed_miou_at  # noqa: E402

# The configs of each preset: per method the classifier (its test mode: the
# seeds), its "CAMs of train_aug" test config, the CRF masks and IRN; the
# segmenter.
PRESETS = {
    # generated data, ResNet-18, minutes on 2 CPU cores
    'gen': dict(
        data='data/gen_voc/VOC2012',
        cam=('cam_r18_gen.py', 'cam_r18_gen_trainaug.py',
             'crf_gen_cam.py', 'irn_r18_gen_cam.py'),
        c2am=('c2am_r18_gen.py', 'c2am_r18_gen_trainaug.py',
              'crf_gen_c2am.py', 'irn_r18_gen_c2am.py'),
        c2am_spatial=('c2am_r18_gen_spatial.py',
                      'c2am_r18_gen_spatial_trainaug.py',
                      'crf_gen_c2am_spatial.py',
                      'irn_r18_gen_c2am_spatial.py'),
        recam=('recam_r18_gen.py', 'recam_r18_gen_trainaug.py',
               'crf_gen_recam.py', 'irn_r18_gen_recam.py'),
        advcam=('advcam_r18_gen.py', 'advcam_r18_gen_trainaug.py',
                'crf_gen_advcam.py', 'irn_r18_gen_advcam.py'),
        seg='deeplabv3plus_r18w32-d16_gen_pseudo.py'),
    # PASCAL VOC 2012 + SBD (README: data preparation), ResNet-50
    'voc': dict(
        data='data/VOCdevkit/VOC2012',
        cam=('cam_r50_voc.py', 'cam_r50_voc_trainaug.py',
             'crf_voc_cam.py', 'irn_r50_voc_cam.py'),
        c2am=('c2am_r50_voc.py', 'c2am_r50_voc_trainaug.py', 'crf_voc_c2am.py',
              'irn_r50_voc_c2am.py'),
        c2am_spatial=('c2am_r50_voc_spatial.py', 'c2am_r50_voc_spatial_trainaug.py',
                      'crf_voc_c2am_spatial.py',
                      'irn_r50_voc_c2am_spatial.py'),
        recam=('recam_r50_voc.py', 'recam_r50_voc_trainaug.py',
               'crf_voc_recam.py', 'irn_r50_voc_recam.py'),
        advcam=('advcam_r50_voc.py', 'advcam_r50_voc_trainaug.py',
                'crf_voc_advcam.py', 'irn_r50_voc_advcam.py'),
        seg='deeplabv3plus_r50-d8_voc_pseudo.py'),
}
METHODS = ('cam', 'c2am', 'c2am_spatial', 'recam', 'advcam')
DEFAULT_METHODS = ('cam', 'c2am', 'c2am_spatial')  # --methods' default
NAMES = dict(cam='CAM', c2am='C2AM', c2am_spatial='C2AM spatial',
             recam='ReCAM', advcam='AdvCAM')
# The method whose classifier each method starts from: the C2AM ones and
# ReCAM fine-tune it (their configs' load_from), AdvCAM tests its checkpoint.
# A start method trains its classifier (its stage 0).
START = dict(c2am='cam', c2am_spatial='cam', recam='cam', advcam='cam')
# Whether a method trains a classifier of its own; AdvCAM is a test mode of
# its start method's classifier (configs/_base_/models/advcam.py).
TRAINED = dict(cam=True, c2am=True, c2am_spatial=True, recam=True,
               advcam=False)


class Stage(NamedTuple):
    """``tools/<tool>.py <config> [checkpoint of ckpt_of]``."""
    tool: str  # 'train' or 'test'
    config: str
    ckpt_of: Optional[str] = None  # the work dir whose last checkpoint
    work_dir: Optional[str] = None  # None: work_dirs/<config name>
    # folders, and the training seed of --seeds; never a method's setting
    opts: Tuple[str, ...] = ()
    # the stages of the same method whose outputs this one reads (indices
    # into the list of stages()); it may start when they have finished
    after: Tuple[int, ...] = ()
    # what it makes, one of KINDS (--until stops after a kind)
    kind: str = 'segmenter'


# What the stages make, in the order a method's stages make them.
KINDS = ('classifier', 'seeds', 'cams', 'masks', 'segmenter')


def work_dir_of(config: str) -> str:
    """The default work dir of a config (tools/train.py, tools/test.py)."""
    return osp.join('work_dirs', osp.splitext(config)[0])


def classifier_dir(preset: str, method: str) -> str:
    """The work dir whose last checkpoint the classifier test stages of
    ``method`` (seeds, CAM files) take: its own classifier's, or for a
    method that trains none (AdvCAM) that of the method it starts from."""
    if TRAINED[method]:
        return work_dir_of(PRESETS[preset][method][0])
    return classifier_dir(preset, START[method])


def stages(preset: str, method: str, refine: str,
           seed: Optional[int] = None) -> List[Stage]:
    """The stages of one method; the segmenter trains on ``refine``'s
    masks (``'crf'`` or ``'irn'``); ``seed``: ``randomness.seed`` of the
    classifier stages of a trained method (None: the configs').

    A trained method's stage 0 trains its classifier; a method that trains
    none (:data:`TRAINED`, AdvCAM) starts with the seed test, on the
    checkpoint of :func:`classifier_dir`, in the config's own folder."""
    cls, cams, crf, irn = PRESETS[preset][method]
    seg = PRESETS[preset]['seg']
    rnd = () if seed is None or not TRAINED[method] else (
        f'randomness.seed={seed}', )
    ckpt = classifier_dir(preset, method)
    out = [Stage('train', cls, opts=rnd, kind='classifier')
           ] if TRAINED[method] else []
    trained = tuple(range(len(out)))  # the classifier training, if any
    out += [
        Stage('test', cls, ckpt, opts=rnd, after=trained,
              kind='seeds'),                 # seed mIoU (train)
        Stage('test', cams, ckpt, opts=rnd, after=trained,
              kind='cams'),                  # CAMs of train_aug
    ]
    # CRF pseudo-masks; the generated-data configs read their thresholds
    # from the seed stage's test_metrics.json
    out.append(Stage('test', crf, after=(len(out) - 2, len(out) - 1),
                     kind='masks'))
    masks = osp.join(work_dir_of(crf), 'masks')
    if refine == 'irn':
        out.append(Stage('train', irn,  # IRNet on the CRF masks
                         after=(len(out) - 1, ), kind='masks'))
        out.append(Stage('test', irn, work_dir_of(irn),  # random walk
                         after=(len(out) - 1, ), kind='masks'))
        masks = osp.join(work_dir_of(irn), 'masks')
    seg_dir = osp.join('work_dirs', f'seg_{method}_{refine}')
    out += [
        Stage('train', seg, work_dir=seg_dir,
              opts=(f'train_dataloader.dataset.mask_dir={masks}', ),
              after=(len(out) - 1, )),
        Stage('test', seg, seg_dir, work_dir=seg_dir,
              after=(len(out), )),           # val mIoU
    ]
    return out


def until(stage_list: List[Stage], kind: str) -> List[Stage]:
    """The stages of ``stage_list`` up to those that make ``kind``
    (:data:`KINDS`; a prefix, so the ``after`` indices stay valid)."""
    last = KINDS.index(kind)
    return [st for st in stage_list if KINDS.index(st.kind) <= last]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--preset', choices=sorted(PRESETS), default='gen')
    parser.add_argument('--work-dir', default='work_dirs/pipeline')
    parser.add_argument('--data-root',
                        help='VOC2012 root (preset voc; default: the '
                        'preset\'s folder in the repository)')
    parser.add_argument(
        '--methods', nargs='+', default=list(DEFAULT_METHODS),
        choices=METHODS,
        help='cam always runs: the others start from its classifier '
        '(c2am, c2am_spatial and recam fine-tune it, advcam tests it)')
    parser.add_argument(
        '--refine', nargs='+', default=['crf'], choices=['crf', 'irn'],
        help='pseudo-mask refinements; the segmenter trains on the last')
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
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='STEM:KEY=VALUE',
        help='extra --cfg-options for the stages of the config STEM, e.g. '
        'cam_r18_gen:train_cfg.max_epochs=1 (quick runs and tests; the '
        'results are then not those of the configs)')
    parser.add_argument(
        '--jobs', type=int, default=None,
        help='stages run side by side (default: 2 for the generated data, '
        'where each stage uses one CPU thread; 1 for voc)')
    parser.add_argument(
        '--seeds', type=int, default=1,
        help='repeat the pipeline with this many training seeds of the '
        'classifiers (randomness.seed 0..N-1) and print mean +- std')
    gen = parser.add_argument_group('generated data (preset gen)')
    gen.add_argument('--num-train', type=int, default=60)
    gen.add_argument('--num-val', type=int, default=30)
    gen.add_argument('--num-aug', type=int, default=180)
    gen.add_argument('--size', type=int, default=64)
    gen.add_argument('--seed', type=int, default=0, help='data seed')
    gen.add_argument('--context-prob', type=float, default=0.5)
    # 8 of the 20 VOC classes with distinct shapes and colours: about 30
    # images per class instead of 9, which the random-init classifier needs
    # (the models keep VOC's 20 classes; the other 12 never occur)
    gen.add_argument('--classes', nargs='+', default=[
        'aeroplane', 'bicycle', 'bird', 'bus', 'cat', 'horse', 'pottedplant',
        'sheep'])
    gen.add_argument('--max-objects', type=int, default=3)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error('--seeds must be at least 1')
    if args.jobs is None:
        args.jobs = min(2, os.cpu_count() or 1) if args.preset == 'gen' \
            else 1
    if args.jobs < 1:
        parser.error('--jobs must be at least 1')
    for opt in args.cfg_options:
        if not re.fullmatch(r'[^:=\s]+:[^=\s]+=.*', opt):
            parser.error(f'--cfg-options takes STEM:KEY=VALUE, got {opt!r}')
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
        self.work_dir = osp.abspath(args.work_dir)
        if seed is not None:
            self.work_dir = osp.join(self.work_dir, f'seed{seed}')
        os.makedirs(self.work_dir, exist_ok=True)
        self.log = open(osp.join(self.work_dir, 'pipeline.log'), 'a')

    def say(self, msg: str) -> None:
        line = f'[pipeline {time.strftime("%H:%M:%S")}] {msg}'
        print(line, flush=True)
        self.log.write(line + '\n')
        self.log.flush()

    def path(self, *parts: str) -> str:
        return osp.join(self.work_dir, *parts)

    def command(self, stage: Stage) -> List[str]:
        config = find_config(stage.config)
        work = stage.work_dir or work_dir_of(stage.config)
        rest = []
        if stage.tool == 'train' and osp.exists(
                self.path(work, 'last_checkpoint')):
            rest.append('--resume')
        rest += ['--work-dir', work]
        stem = osp.splitext(stage.config)[0]
        opts = list(stage.opts) + [
            o.split(':', 1)[1] for o in getattr(self.args, 'cfg_options', [])
            if o.split(':', 1)[0] == stem]
        if opts:
            rest += ['--cfg-options', *opts]
        ckpt = [self.checkpoint(stage.ckpt_of)] if stage.ckpt_of else []
        if self.args.gpus > 1:
            return ['bash', osp.join(ROOT, f'tools/dist_{stage.tool}.sh'),
                    config, *ckpt, str(self.args.gpus), *rest]
        return [sys.executable, osp.join(ROOT, f'tools/{stage.tool}.py'),
                config, *ckpt, *rest]

    def checkpoint(self, work: str) -> str:
        with open(self.path(work, 'last_checkpoint')) as f:
            return f.read().strip()

    def run(self, name: str, cmd: List[str], done: str) -> None:
        """Run ``cmd`` in the work folder unless ``done`` exists."""
        if osp.exists(done):
            self.say(f'{name}: done before, skipped')
            return
        self.say(f'{name}: {" ".join(cmd)}')
        start = time.time()
        env = self.env()
        log_name = name.replace('/', '_').replace(' ', '_')
        with open(self.path(f'{log_name}.log'), 'a') as log:
            ret = subprocess.call(cmd, cwd=self.work_dir, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        if ret != 0:
            raise SystemExit(
                f'[pipeline] stage {name} failed (exit {ret}); see '
                f'{self.path(log_name + ".log")}. Rerun the same command to '
                'continue from this stage.')
        with atomic_open(done, 'w') as f:
            f.write(f'{time.time() - start:.1f}\n')
        self.say(f'{name}: finished in {time.time() - start:.0f} s')

    def generator_options(self) -> Dict[str, object]:
        """The generated data's settings, as ``meta.json`` records them."""
        a = self.args
        return dict(num_train=a.num_train, num_val=a.num_val,
                    num_aug=a.num_aug, img_size=[a.size, a.size], seed=a.seed,
                    context_prob=a.context_prob, max_objects=a.max_objects,
                    drawn_classes=list(a.classes))

    def data(self) -> None:
        """The data folder the configs expect, under the work folder."""
        a = self.args
        target = self.path(PRESETS[a.preset]['data'])
        if self.data_from:  # a --seeds run: the data of run 0
            src = osp.join(self.data_from, PRESETS[a.preset]['data'])
        elif a.preset == 'voc':
            src = osp.abspath(a.data_root or osp.join(
                ROOT, PRESETS['voc']['data']))
        if a.preset == 'voc' or self.data_from:
            if not osp.isdir(osp.join(src, 'JPEGImages')):
                raise SystemExit(f'[pipeline] no VOC2012 root at {src} '
                                 '(see README: data)')
            if not osp.lexists(target):
                os.makedirs(osp.dirname(target), exist_ok=True)
                os.symlink(src, target)
            return
        meta = osp.join(target, 'meta.json')
        if osp.exists(meta):
            with open(meta) as f:
                version = json.load(f).get('format_version', 1)
            if version >= 2:
                self.check_data(meta)
                self.say(f'data: {target} exists, skipped')
                return
            # data of an older generator has no Annotations/*.xml, which the
            # classifier configs read labels from: write it again
            self.say(f'data: {target} predates the XML annotations; '
                     'regenerating it')
            done = self.path('data.done')
            if osp.exists(done):
                os.remove(done)
        self.run('data', [
            sys.executable, osp.join(ROOT, 'tools/generate_voc.py'), target,
            '--num-train', str(a.num_train), '--num-val', str(a.num_val),
            '--num-aug', str(a.num_aug), '--size', str(a.size), '--seed',
            str(a.seed), '--context-prob', str(a.context_prob),
            '--max-objects', str(a.max_objects), '--classes', *a.classes
        ], self.path('data.done'))

    def check_data(self, meta_file: str) -> None:
        """Refuse data generated with other options than these (the
        finished stages of this work folder were run on it)."""
        with open(meta_file) as f:
            meta = json.load(f)
        want = self.generator_options()
        have = {k: meta.get(k) for k in want}
        if have['drawn_classes'] and sorted(have['drawn_classes']) == \
                sorted(want['drawn_classes']):
            have['drawn_classes'] = want['drawn_classes']  # any order
        diff = {k: (have[k], want[k]) for k in want if have[k] != want[k]}
        if diff:
            raise SystemExit(
                f'[pipeline] the data in {osp.dirname(meta_file)} was '
                'generated with other options (have, asked): '
                f'{diff}; use another --work-dir, or the options it was '
                'made with')

    def marker(self, stage: Stage) -> str:
        """The file whose existence says the stage has finished."""
        work = stage.work_dir or work_dir_of(stage.config)
        return self.path(work, f'.done_{stage.tool}_'
                         f'{osp.splitext(stage.config)[0]}')

    def stage_name(self, stage: Stage) -> str:
        name = f'{stage.tool} {osp.splitext(stage.config)[0]}'
        if stage.work_dir:  # one config for several methods: the segmenter
            name += f' -> {osp.basename(stage.work_dir)}'
        return name if self.seed is None else f'seed{self.seed} {name}'

    def log_file(self, stage: Stage) -> str:
        work = osp.basename(stage.work_dir or work_dir_of(stage.config))
        return self.path(f'{stage.tool}_{work}.log')

    def graph(self) -> Tuple[Dict[Tuple[str, int], Stage],
                             Dict[Tuple[str, int], List[Tuple[str, int]]]]:
        """Every stage of every method, keyed ``(method, index)``, and the
        stages each one waits for."""
        nodes, deps = {}, {}
        for method in self.args.methods:
            method_stages = stages(self.args.preset, method,
                                   self.args.refine[-1], self.seed)
            last = getattr(self.args, 'until', 'segmenter')
            for i, st in enumerate(until(method_stages, last)):
                nodes[method, i] = st
                deps[method, i] = [(method, j) for j in st.after]
                if method in START and not st.after:
                    # the method's first stages start from the classifier
                    # of START: they fine-tune it (its training, stage 0)
                    # or test its checkpoint (AdvCAM's seeds and CAMs)
                    deps[method, i].append((START[method], 0))
        return nodes, deps

    def run_stages(self) -> None:
        """Run the stages of :meth:`graph`, up to ``--jobs`` at a time, a
        stage as soon as the ones it reads from have finished (the longest
        remaining chain first); a line per stage with the elapsed time and
        an estimate of the time left, and mmengine's progress lines of the
        running stages (at most one per stage every 20 s)."""
        nodes, deps = self.graph()
        expected = {k: _expected(self.args.preset, st)
                    for k, st in nodes.items()}
        chain: Dict[Tuple[str, int], float] = {}

        def longest(k):  # the stage and everything that waits for it
            if k not in chain:
                chain[k] = expected[k] + max(
                    [longest(n) for n in nodes if k in deps[n]] or [0])
            return chain[k]

        for k in nodes:
            longest(k)
        pending = sorted(nodes, key=lambda k: -chain[k])
        done, running, failed = set(), {}, []
        taken = {}  # seconds each finished stage took (run here)
        start = time.time()

        def eta() -> str:
            now = time.time()
            left = sum(expected[k] for k in pending) + sum(
                max(expected[k] - (now - r['start']), 0.0)
                for k, r in running.items())
            path = max([chain[k] for k in pending] + [
                max(chain[k] - (now - r['start']), 0.0)
                for k, r in running.items()] + [0.0])
            speed = (sum(taken.values()) /
                     sum(expected[k] for k in taken)) if taken else 1
            secs = max(left / self.args.jobs, path) * speed
            return (f'{len(done)}/{len(nodes)} stages done, elapsed '
                    f'{_clock(now - start)}, about {_clock(secs)} left')

        while pending or running:
            launched = True
            while launched and not failed:
                launched = False
                for k in pending:
                    if any(d not in done for d in deps[k]):
                        continue
                    st = nodes[k]
                    if osp.exists(self.marker(st)):
                        self.say(f'{self.stage_name(st)}: done before, '
                                 'skipped')
                        pending.remove(k)
                        done.add(k)
                        launched = True
                        break
                    if len(running) < self.args.jobs:
                        pending.remove(k)
                        running[k] = self.launch(st)
                        self.say(f'{self.stage_name(st)}: started | {eta()}')
                        launched = True
                        break
            if not running:
                break
            time.sleep(0.2)
            for k in list(running):
                r = running[k]
                ret = r['proc'].poll()
                if ret is None:
                    continue
                r['reader'].join()
                r['log'].close()
                del running[k]
                st = nodes[k]
                secs = time.time() - r['start']
                if ret != 0:
                    failed.append((self.stage_name(st), ret, r['log'].name))
                    self.say(f'{self.stage_name(st)}: FAILED (exit {ret}); '
                             f'see {r["log"].name}' + (
                                 '; waiting for the running stages'
                                 if running else ''))
                    continue
                with atomic_open(self.marker(st), 'w') as f:
                    f.write(f'{secs:.1f}\n')
                taken[k] = secs
                done.add(k)
                self.say(f'{self.stage_name(st)}: finished in {secs:.0f} s '
                         f'| {eta()}')
        if failed:
            name, ret, log = failed[0]
            raise SystemExit(
                f'[pipeline] stage {name} failed (exit {ret}); see {log}. '
                'Rerun the same command to continue from this stage.')

    def launch(self, st: Stage) -> dict:
        """Start one stage; its output goes to ``<work>/<name>.log``."""
        name = self.stage_name(st)
        cmd = self.command(st)
        log = open(self.log_file(st), 'a')
        log.write(' '.join(cmd) + '\n')
        log.flush()
        self.log.write(f'{name}: {" ".join(cmd)}\n')
        proc = subprocess.Popen(
            cmd, cwd=self.work_dir, env=self.env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)

        def read():
            last = 0.0
            for line in proc.stdout:
                log.write(line)
                m = _PROGRESS.search(line)
                if m and time.time() - last > 20:
                    last = time.time()
                    print(f'    {name}: {m.group(1)[:100]}', flush=True)
            log.flush()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        return dict(proc=proc, log=log, reader=reader, start=time.time())

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
        if self.args.preset == 'gen':
            # One thread per stage: the tiny CPU models gain little from a
            # second one, and --jobs runs stages side by side instead.
            env.setdefault('OMP_NUM_THREADS', '1')
        return env

    def metrics(self, config: str, work: Optional[str] = None
                ) -> Optional[dict]:
        path = self.path(work or work_dir_of(config), 'test_metrics.json')
        if not osp.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def results(self) -> Dict[str, dict]:
        rows = {}
        refine = self.args.refine[-1]
        for method in self.args.methods:
            cls, _, crf, irn = PRESETS[self.args.preset][method]
            seeds = self.metrics(cls)
            rows[method] = dict(
                seed_miou=pick_metric(seeds, 'mIoU'),
                seed_threshold=pick_metric(seeds, 'best_threshold'),
                pseudo_crf_miou=pick_metric(self.metrics(crf), 'mIoU'),
                pseudo_irn_miou=pick_metric(self.metrics(irn), 'mIoU'),
                seg_val_miou=pick_metric(self.metrics(
                    PRESETS[self.args.preset]['seg'],
                    osp.join('work_dirs', f'seg_{method}_{refine}')),
                    'mIoU'))
            fixed = getattr(self.args, 'fixed_thr', None)
            if fixed is not None:
                sweep = latest_seed_sweep(self.path(work_dir_of(cls)))
                rows[method]['seed_fixed_miou'] = None if sweep is None \
                    else seed_miou_at(sweep, fixed)
        return rows

    def table(self, rows: Dict[str, dict]) -> str:
        return table(rows, self.args.refine[-1],
                     fixed_thr=getattr(self.args, 'fixed_thr', None))

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
        self.say(f'all stages done in {time.time() - start:.0f} s')
        self.figure()
        print('\n' + text, flush=True)
        return rows

    def figure(self) -> None:
        """tools/pipeline_figure.py: val images through every stage and the
        seed sweeps (VOC: the real data's images are not drawn)."""
        if self.args.preset != 'gen':
            return
        if getattr(self.args, 'until', 'segmenter') != 'segmenter':
            self.say('no figure: it draws the segmenter, which --until '
                     'left out')
            return
        methods = self.args.methods
        out = self.path('figure.png')
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'pipeline_figure.py'),
               self.work_dir, '--preset', self.args.preset, '--refine',
               self.args.refine[-1], '--methods', *methods, '--out', out]
        with open(self.path('figure.log'), 'w') as log:
            ret = subprocess.call(cmd, env=self.env(), stdout=log,
                                  stderr=subprocess.STDOUT)
        if ret != 0:
            raise SystemExit(f'[pipeline] the figure failed (exit {ret}); '
                             f'see {self.path("figure.log")}')
        self.say(f'figure: {out}')


COLUMNS = (('seed_miou', 1), ('seed_fixed_miou', 1), ('seed_threshold', 2),
           ('pseudo_crf_miou', 1), ('pseudo_irn_miou', 1),
           ('seg_val_miou', 1))


def table(rows: Dict[str, dict], refine: str, runs: int = 1,
          fixed_thr: Optional[float] = None) -> str:
    """The results table; ``runs`` > 1: cells are ``[mean, std]`` pairs;
    ``fixed_thr``: with the column of the seed mIoU at that threshold."""
    heads = dict(
        seed_miou='seed mIoU (train)',
        seed_fixed_miou=f'seed mIoU at t = {fixed_thr:.2f} (train)'
        if fixed_thr is not None else None,
        seed_threshold='best bg threshold',
        pseudo_crf_miou='pseudo-mask mIoU, CRF (train)',
        pseudo_irn_miou='pseudo-mask mIoU, IRN (train)',
        seg_val_miou=f'segmenter mIoU (val), {refine.upper()} masks')
    columns = [(k, d) for k, d in COLUMNS if heads[k] is not None]
    method = 'method' if runs == 1 else f'method ({runs} seeds)'
    lines = ['| ' + ' | '.join([method] + [heads[k] for k, _ in columns]) +
             ' |', '|' + '---|' * (len(columns) + 1)]
    for method, r in rows.items():
        cells = []
        for key, digits in columns:
            value = r.get(key)
            if runs > 1:
                mean, std = value if value is not None else (None, None)
                cells.append(_fmt(mean, digits) if mean is None else
                             f'{_fmt(mean, digits)} +- {_fmt(std, digits)}')
            else:
                cells.append(_fmt(value, digits))
        lines.append(f'| {NAMES[method]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def mean_std(runs: List[Dict[str, dict]]) -> Dict[str, dict]:
    """Per method and column ``[mean, sample std]`` over the runs (None
    where a run has no value; columns no run has are left out)."""
    out = {}
    for method in runs[0]:
        out[method] = {}
        for key, _ in COLUMNS:
            if all(key not in r[method] for r in runs):
                continue
            values = [r[method].get(key) for r in runs]
            out[method][key] = None if None in values else [
                statistics.mean(values), statistics.stdev(values)]
    return out


# mmengine's log lines of the training / test loops
_PROGRESS = re.compile(r' - mmengine - INFO - ((?:Epoch|Iter)\((?:train|val|test)'
                       r'\).*)')

# Seconds each stage of the generated-data preset took in the measured
# default run (README, 2 CPU cores, --jobs 2): the estimate of the time left
# and which ready stage starts first (the longest chain). Stages not listed
# count 60 s.
EXPECTED = {
    'gen': {
        ('train', 'cam_r18_gen'): 114, ('test', 'cam_r18_gen'): 11,
        ('test', 'cam_r18_gen_trainaug'): 30,
        ('test', 'crf_gen_cam'): 9,
        ('train', 'c2am_r18_gen'): 97, ('test', 'c2am_r18_gen'): 19,
        ('test', 'c2am_r18_gen_trainaug'): 65,
        ('test', 'crf_gen_c2am'): 9,
        ('train', 'c2am_r18_gen_spatial'): 96,
        ('test', 'c2am_r18_gen_spatial'): 19,
        ('test', 'c2am_r18_gen_spatial_trainaug'): 63,
        ('test', 'crf_gen_c2am_spatial'): 9,
        ('train', 'deeplabv3plus_r18w32-d16_gen_pseudo'): 180,
        ('test', 'deeplabv3plus_r18w32-d16_gen_pseudo'): 6,
    },
}


def _expected(preset: str, stage: Stage) -> float:
    return EXPECTED.get(preset, {}).get(
        (stage.tool, osp.splitext(stage.config)[0]), 60)


def _clock(secs: float) -> str:
    secs = int(round(secs))
    return f'{secs // 60}:{secs % 60:02d}'


def _fmt(v: Optional[float], digits: int = 1) -> str:
    return '-' if v is None else f'{v:.{digits}f}'


def methods_to_run(methods: List[str]) -> List[str]:
    """The chosen methods, cam (always: the table's reference) and those
    they start from (:data:`START`), in :data:`METHODS`' order."""
    need = {'cam', *methods, *(START[m] for m in methods if m in START)}
    return [m for m in METHODS if m in need]


def main(argv=None):
    args = parse_args(argv)
    args.methods = methods_to_run(args.methods)
    first = Pipeline(args)
    runs = [first()]
    if args.seeds == 1:
        return
    for seed in range(1, args.seeds):
        runs.append(Pipeline(args, seed=seed, data_from=first.work_dir)())
    rows = mean_std(runs)
    text = '\n'.join(
        [table(rows, args.refine[-1], runs=len(runs),
               fixed_thr=args.fixed_thr)] +
        [f'run {i} (randomness.seed {i}):\n' +
         table(r, args.refine[-1], fixed_thr=args.fixed_thr)
         for i, r in enumerate(runs)])
    with atomic_open(first.path('results_seeds.json'), 'w') as f:
        json.dump(dict(mean_std=rows, runs=runs), f, indent=2)
    with atomic_open(first.path('results_seeds.md'), 'w') as f:
        f.write(text)
    first.say(f'{len(runs)} runs: {first.path("results_seeds.md")}')
    print('\n' + text, flush=True)


if __name__ == '__main__':
    main()
