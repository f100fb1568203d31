"""Run the whole WSSS pipeline, for plain CAM and for C2AM, and tabulate it.

The pipeline is a list of ``(tool, config)`` stages per method
(:func:`stages`), each run as the README's stage-by-stage commands run it::

    python tools/train.py CONFIG            python tools/test.py CONFIG [CKPT]

with the work folder as the current folder, so every stage writes to
``<work-dir>/work_dirs/<config name>`` and finds its inputs where the
previous stage's config left them (the configs' default folders chain:
CAM files -> CRF masks -> IRNet -> random-walk masks). Every setting of a
method (scales, thresholds, background scores) lives in its configs; this
script only chooses the configs, and tells the segmenter which masks to
train on. The data is ``<work-dir>/data/...``: generated there (preset
``gen``), or a link to ``--data-root`` (preset ``voc``).

A stage whose outputs exist is skipped (a ``.done_*`` file in its work
folder; a killed training resumes from its last checkpoint, a killed test
stage continues where it stopped), so rerunning the same command after a
crash continues. The results table (seed / pseudo-mask / segmenter mIoU per
method) is printed and written to ``<work-dir>/results.md`` and
``results.json``.

Examples::

    python tools/run_pipeline.py                       # generated data, CPU
    python tools/run_pipeline.py --preset voc --gpus 8 --work-dir work_dirs/voc
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, NamedTuple, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am.utils.io import atomic_open  # noqa: E402

# The configs of each preset: per method the classifier, its "CAMs of
# train_aug" test config, the CRF masks and IRN; the segmenter.
PRESETS = {
    # generated data, ResNet-18, minutes on 2 CPU cores
    'gen': dict(
        data='data/gen_voc/VOC2012',
        cam=('cam_r18_gen.py', 'cam_r18_gen_trainaug.py',
             'pseudo_mask_cam_gen.py', 'irn_cam_r18_gen.py'),
        c2am=('c2am_r18_gen.py', 'c2am_r18_gen_trainaug.py',
              'pseudo_mask_c2am_gen.py', 'irn_c2am_r18_gen.py'),
        seg='deeplabv3plus_r18-d8_gen-pseudo.py'),
    # PASCAL VOC 2012 + SBD (README: data preparation), ResNet-50
    'voc': dict(
        data='data/VOCdevkit/VOC2012',
        cam=('cam_r50_voc.py', 'cam_r50_voc_trainaug.py',
             'pseudo_mask_cam_voc.py', 'irn_cam_r50_voc.py'),
        c2am=('voc_r50.py', 'voc_r50_trainaug.py', 'pseudo_mask_c2am_voc.py',
              'irn_c2am_r50_voc.py'),
        seg='deeplabv3plus_r50-d8_voc12aug-pseudo.py'),
}


class Stage(NamedTuple):
    """``tools/<tool>.py <config> [checkpoint of ckpt_of]``."""
    tool: str  # 'train' or 'test'
    config: str
    ckpt_of: Optional[str] = None  # the work dir whose last checkpoint
    work_dir: Optional[str] = None  # None: work_dirs/<config name>
    opts: Tuple[str, ...] = ()  # folders only, never a setting


def work_dir_of(config: str) -> str:
    """The default work dir of a config (tools/train.py, tools/test.py)."""
    return osp.join('work_dirs', osp.splitext(config)[0])


def stages(preset: str, method: str, refine: str) -> List[Stage]:
    """The stages of one method; the segmenter trains on ``refine``'s
    masks (``'crf'`` or ``'irn'``)."""
    cls, cams, crf, irn = PRESETS[preset][method]
    seg = PRESETS[preset]['seg']
    out = [
        Stage('train', cls),                 # classifier
        Stage('test', cls, work_dir_of(cls)),  # seed mIoU on train
        Stage('test', cams, work_dir_of(cls)),  # CAM files of train_aug
        Stage('test', crf),                  # CRF pseudo-masks
    ]
    masks = osp.join(work_dir_of(crf), 'masks')
    if refine == 'irn':
        out += [Stage('train', irn),         # IRNet on the CRF masks
                Stage('test', irn, work_dir_of(irn))]  # random walk
        masks = osp.join(work_dir_of(irn), 'masks')
    seg_dir = osp.join('work_dirs', f'seg_{method}_{refine}')
    out += [
        Stage('train', seg, work_dir=seg_dir,
              opts=(f'train_dataloader.dataset.mask_dir={masks}', )),
        Stage('test', seg, seg_dir, work_dir=seg_dir),  # val mIoU
    ]
    return out


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--preset', choices=sorted(PRESETS), default='gen')
    parser.add_argument('--work-dir', default='work_dirs/pipeline')
    parser.add_argument('--data-root',
                        help='VOC2012 root (preset voc; default: the '
                        'preset\'s folder in the repository)')
    parser.add_argument(
        '--methods', nargs='+', default=['cam', 'c2am'],
        choices=['cam', 'c2am'], help='c2am needs cam (its start point)')
    parser.add_argument(
        '--refine', nargs='+', default=['crf'], choices=['crf', 'irn'],
        help='pseudo-mask refinements; the segmenter trains on the last')
    parser.add_argument(
        '--gpus', type=int, default=1,
        help='processes per stage; >1 launches tools/dist_*.sh (torchrun)')
    gen = parser.add_argument_group('generated data (preset gen)')
    gen.add_argument('--num-train', type=int, default=60)
    gen.add_argument('--num-val', type=int, default=30)
    gen.add_argument('--num-aug', type=int, default=120)
    gen.add_argument('--size', type=int, default=64)
    gen.add_argument('--seed', type=int, default=0)
    gen.add_argument('--context-prob', type=float, default=0.8)
    return parser.parse_args()


class Pipeline:
    """Runs the stages in one work folder; see the module docstring."""

    def __init__(self, args):
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
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
        config = osp.join(ROOT, 'configs', 'c2am', stage.config)
        work = stage.work_dir or work_dir_of(stage.config)
        rest = []
        if stage.tool == 'train' and osp.exists(
                self.path(work, 'last_checkpoint')):
            rest.append('--resume')
        rest += ['--work-dir', work]
        if stage.opts:
            rest += ['--cfg-options', *stage.opts]
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
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
        if self.args.preset == 'gen':
            # The tiny CPU models gain little from a second thread and slow
            # down several-fold when anything else wants the other core.
            env.setdefault('OMP_NUM_THREADS', '1')
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

    def data(self) -> None:
        """The data folder the configs expect, under the work folder."""
        a = self.args
        target = self.path(PRESETS[a.preset]['data'])
        if a.preset == 'voc':
            src = osp.abspath(a.data_root or osp.join(
                ROOT, PRESETS['voc']['data']))
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
            str(a.seed), '--context-prob', str(a.context_prob)
        ], self.path('data.done'))

    def stage(self, stage: Stage) -> None:
        work = stage.work_dir or work_dir_of(stage.config)
        name = f'{stage.tool} {osp.splitext(stage.config)[0]}'
        marker = self.path(work, f'.done_{stage.tool}_'
                           f'{osp.splitext(stage.config)[0]}')
        self.run(name, self.command(stage), marker)

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
                seed_miou=_pick(seeds, 'mIoU'),
                seed_threshold=_pick(seeds, 'best_threshold'),
                pseudo_crf_miou=_pick(self.metrics(crf), 'mIoU'),
                pseudo_irn_miou=_pick(self.metrics(irn), 'mIoU'),
                seg_val_miou=_pick(self.metrics(
                    PRESETS[self.args.preset]['seg'],
                    osp.join('work_dirs', f'seg_{method}_{refine}')),
                    'mIoU'))
        return rows

    def table(self, rows: Dict[str, dict]) -> str:
        names = dict(cam='CAM', c2am='C2AM')
        head = ('| method | seed mIoU (train) | best bg threshold | '
                'pseudo-mask mIoU, CRF (train) | pseudo-mask mIoU, IRN (train) '
                f'| segmenter mIoU (val), {self.args.refine[-1].upper()} masks |')
        lines = [head, '|---|---|---|---|---|---|']
        for method, r in rows.items():
            cells = [_fmt(r['seed_miou']), _fmt(r['seed_threshold'], 2),
                     _fmt(r['pseudo_crf_miou']), _fmt(r['pseudo_irn_miou']),
                     _fmt(r['seg_val_miou'])]
            lines.append(f'| {names[method]} | ' + ' | '.join(cells) + ' |')
        return '\n'.join(lines) + '\n'

    def __call__(self) -> None:
        start = time.time()
        self.data()
        for method in self.args.methods:
            for stage in stages(self.args.preset, method,
                                self.args.refine[-1]):
                self.stage(stage)
        rows = self.results()
        table = self.table(rows)
        with atomic_open(self.path('results.json'), 'w') as f:
            json.dump(rows, f, indent=2)
        with atomic_open(self.path('results.md'), 'w') as f:
            f.write(table)
        self.say(f'all stages done in {time.time() - start:.0f} s')
        print('\n' + table, flush=True)


def _pick(d: Optional[dict], key: str) -> Optional[float]:
    """``d[key]``, also when a metric prefixes its keys (``'seed/mIoU'``)."""
    if not d:
        return None
    for k, v in d.items():
        if k == key or k.endswith('/' + key):
            return float(v)
    return None


def _fmt(v: Optional[float], digits: int = 1) -> str:
    return '-' if v is None else f'{v:.{digits}f}'


def main():
    args = parse_args()
    if 'c2am' in args.methods and 'cam' not in args.methods:
        args.methods = ['cam'] + args.methods
    Pipeline(args)()


if __name__ == '__main__':
    main()
