"""Run the whole WSSS pipeline, for plain CAM and for C2AM, and tabulate it.

Stages (each one ``tools/*.py`` call on a stage config, as a user would run it)::

    data      generated VOC-layout data (preset ``gen`` only)
    cam       train the plain-CAM classifier           tools/train.py
    c2am      fine-tune it with the causal adjustment  tools/train.py
    seeds     seed mIoU on train + CAM files           tools/test.py
    cams      CAM files of the rest of train_aug       tools/test.py
    pseudo    CRF pseudo-masks of train_aug            tools/make_pseudo_masks.py
    irn       IRNet + random walk (--refine irn)       tools/train.py, make_irn_masks.py
    seg       DeepLabV3+ on the pseudo-masks           tools/train.py + tools/test.py

A stage whose outputs exist is skipped (a ``.done`` file marks a finished
stage; a killed training resumes from its last checkpoint), so rerunning the
same command after a crash continues where it stopped. The results table
(seed / pseudo-mask / segmenter mIoU per method) is printed and written to
``<work-dir>/results.md`` and ``results.json``.

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
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am.utils.io import atomic_open  # noqa: E402

PRESETS = {
    # embedded default: generated data, ResNet-18, minutes on 2 CPU cores
    'gen': dict(
        data_root='data/gen_voc/VOC2012',
        cam='configs/c2am/cam_r18_gen.py',
        c2am='configs/c2am/c2am_r18_gen.py',
        pseudo='configs/c2am/pseudo_mask_gen.py',
        irn='configs/c2am/irn_r18_gen.py',
        seg='configs/c2am/deeplabv3plus_r18-d8_gen-pseudo.py'),
    # PASCAL VOC 2012 + SBD (README: data preparation), ResNet-50
    'voc': dict(
        data_root='data/VOCdevkit/VOC2012',
        cam='configs/c2am/cam_r50_voc.py',
        c2am='configs/c2am/voc_r50.py',
        pseudo='configs/c2am/pseudo_mask_voc.py',
        irn='configs/c2am/irn_r50_voc.py',
        seg='configs/c2am/deeplabv3plus_r50-d8_voc12aug-pseudo.py'),
}
SPLITS = 'ImageSets/Segmentation'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--preset', choices=sorted(PRESETS), default='gen')
    parser.add_argument('--work-dir', default='work_dirs/pipeline')
    parser.add_argument('--data-root', help='VOC2012 root (default: preset)')
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
    """Runs the stages for one work dir; see the module docstring."""

    def __init__(self, args):
        self.args = args
        self.preset = PRESETS[args.preset]
        self.work_dir = osp.abspath(args.work_dir)
        self.data_root = osp.abspath(args.data_root or self.preset['data_root'])
        self.python = sys.executable
        os.makedirs(self.work_dir, exist_ok=True)
        self.log = open(osp.join(self.work_dir, 'pipeline.log'), 'a')

    # -- helpers -----------------------------------------------------------
    def say(self, msg: str) -> None:
        line = f'[pipeline {time.strftime("%H:%M:%S")}] {msg}'
        print(line, flush=True)
        self.log.write(line + '\n')
        self.log.flush()

    def run(self, name: str, cmd: List[str], done: str) -> None:
        """Run ``cmd`` unless ``done`` exists; create ``done`` on success."""
        if osp.exists(done):
            self.say(f'{name}: done before, skipped')
            return
        self.say(f'{name}: {" ".join(cmd)}')
        start = time.time()
        env = dict(os.environ)
        if self.args.preset == 'gen':
            # The tiny CPU models gain little from a second thread and slow
            # down several-fold when anything else wants the other core.
            env.setdefault('OMP_NUM_THREADS', '1')
        with open(osp.join(self.work_dir, f'{name}.log'), 'a') as log:
            ret = subprocess.call(cmd, cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        if ret != 0:
            raise SystemExit(
                f'[pipeline] stage {name} failed (exit {ret}); see '
                f'{osp.join(self.work_dir, name + ".log")}. Rerun the same '
                'command to continue from this stage.')
        with atomic_open(done, 'w') as f:
            f.write(f'{time.time() - start:.1f}\n')
        self.say(f'{name}: finished in {time.time() - start:.0f} s')

    def tool(self, script: str, config: str, *rest: str) -> List[str]:
        if self.args.gpus > 1 and script in ('train', 'test'):
            return ['bash', osp.join(ROOT, f'tools/dist_{script}.sh'), config,
                    *rest[:1 if script == 'test' else 0],
                    str(self.args.gpus), *rest[1 if script == 'test' else 0:]]
        return [self.python, osp.join(ROOT, f'tools/{script}.py'), config,
                *rest]

    def data_opts(self, *loaders: str) -> List[str]:
        return [f'{loader}.dataset.data_root={self.data_root}'
                for loader in loaders]

    @staticmethod
    def checkpoint(work_dir: str) -> str:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return f.read().strip()

    @staticmethod
    def read_json(path: str) -> Optional[dict]:
        if not osp.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    # -- stages --------------------------------------------------------------
    def data(self) -> None:
        if self.args.preset != 'gen':
            if not osp.isdir(osp.join(self.data_root, 'JPEGImages')):
                raise SystemExit(f'[pipeline] no VOC2012 root at '
                                 f'{self.data_root} (see README: data)')
            return
        if osp.exists(osp.join(self.data_root, 'meta.json')):
            self.say(f'data: {self.data_root} exists, skipped')
            return
        a = self.args
        self.run('data', [
            self.python, osp.join(ROOT, 'tools/generate_voc.py'),
            self.data_root, '--num-train', str(a.num_train), '--num-val',
            str(a.num_val), '--num-aug', str(a.num_aug), '--size', str(a.size),
            '--seed', str(a.seed), '--context-prob', str(a.context_prob)
        ], osp.join(self.work_dir, 'data.done'))

    def classifier(self, method: str) -> str:
        """Train the classifier of ``method``; return its checkpoint."""
        d = osp.join(self.work_dir, method, 'cls')
        opts = self.data_opts('train_dataloader', 'val_dataloader',
                              'test_dataloader')
        resume = osp.exists(osp.join(d, 'last_checkpoint'))
        if method == 'c2am':
            # A resumed run must not take load_from as the file to resume.
            start = 'None' if resume else self.checkpoint(
                osp.join(self.work_dir, 'cam', 'cls'))
            opts.append(f'load_from={start}')
        cmd = self.tool('train', self.preset[method], '--work-dir', d,
                        *(['--resume'] if resume else []), '--cfg-options',
                        *opts)
        self.run(f'{method}-train', cmd, osp.join(d, '.done'))
        return self.checkpoint(d)

    def seeds(self, method: str, ckpt: str) -> str:
        """Seed mIoU on train, then CAM files of all of train_aug."""
        cam_dir = osp.join(self.work_dir, method, 'cams')
        for split, name in (('train', 'seeds'), ('trainaug', 'cams')):
            d = osp.join(self.work_dir, method, name)
            opts = self.data_opts('test_dataloader') + [
                f'model.test_cfg.cam_dir={cam_dir}',
                f'test_dataloader.dataset.ann_file={SPLITS}/{split}.txt',
            ]
            if split == 'trainaug':
                opts.append('test_dataloader.dataset.data_prefix.seg_map_path'
                            '=SegmentationClassAug')
            self.run(f'{method}-{name}',
                     self.tool('test', self.preset[method], ckpt, '--work-dir',
                               d, '--cfg-options', *opts),
                     osp.join(d, '.done'))
        return cam_dir

    def pseudo(self, method: str, cam_dir: str) -> str:
        d = osp.join(self.work_dir, method, 'pseudo_crf')
        opts = [f'data_root={self.data_root}', f'cam_dir={cam_dir}']
        if method == 'cam':
            # IRN's thresholds for plain CAM; the config holds C2AM's
            opts += ['t_fg=0.30', 't_bg=0.05']
        self.run(f'{method}-pseudo',
                 [self.python, osp.join(ROOT, 'tools/make_pseudo_masks.py'),
                  self.preset['pseudo'], '--work-dir', d, '--cfg-options',
                  *opts], osp.join(d, '.done'))
        return osp.join(d, 'pseudo_masks')

    def irn(self, method: str, cam_dir: str, label_dir: str) -> str:
        d = osp.join(self.work_dir, method, 'irn')
        resume = osp.exists(osp.join(d, 'last_checkpoint'))
        self.run(f'{method}-irn-train',
                 self.tool('train', self.preset['irn'], '--work-dir', d,
                           *(['--resume'] if resume else []), '--cfg-options',
                           f'train_dataloader.dataset.data_root={self.data_root}',
                           f'train_dataloader.dataset.label_dir={label_dir}'),
                 osp.join(d, '.done'))
        out = osp.join(d, 'masks')
        bg = '0.25' if method == 'cam' else '0.20'
        self.run(f'{method}-irn-masks',
                 [self.python, osp.join(ROOT, 'tools/make_irn_masks.py'),
                  self.preset['irn'], self.checkpoint(d), '--work-dir',
                  osp.join(d, 'rw'), '--cfg-options',
                  f'random_walk.data_root={self.data_root}',
                  f'random_walk.cam_dir={cam_dir}',
                  f'random_walk.out_dir={out}', f'random_walk.bg_thr={bg}'],
                 osp.join(d, 'rw', '.done'))
        return out

    def segmenter(self, method: str, mask_dir: str) -> None:
        # one folder per mask source, so switching --refine retrains
        d = osp.join(self.work_dir, method, f'seg_{self.args.refine[-1]}')
        resume = osp.exists(osp.join(d, 'last_checkpoint'))
        opts = self.data_opts('train_dataloader', 'val_dataloader',
                              'test_dataloader')
        self.run(f'{method}-seg-train',
                 self.tool('train', self.preset['seg'], '--work-dir', d,
                           *(['--resume'] if resume else []), '--cfg-options',
                           f'train_dataloader.dataset.mask_dir={mask_dir}',
                           *opts), osp.join(d, '.done'))
        t = osp.join(d, 'test')
        self.run(f'{method}-seg-test',
                 self.tool('test', self.preset['seg'], self.checkpoint(d),
                           '--work-dir', t, '--cfg-options', *opts),
                 osp.join(t, '.done'))

    # -- results -------------------------------------------------------------
    def results(self) -> Dict[str, dict]:
        rows = {}
        for method in self.args.methods:
            m = osp.join(self.work_dir, method)
            seeds = self.read_json(osp.join(m, 'seeds', 'test_metrics.json'))
            crf = self.read_json(
                osp.join(m, 'pseudo_crf', 'pseudo_mask_results.json'))
            irn = self.read_json(
                osp.join(m, 'irn', 'rw', 'pseudo_mask_results.json'))
            seg = self.read_json(osp.join(m, f'seg_{self.args.refine[-1]}',
                                          'test', 'test_metrics.json'))
            rows[method] = dict(
                seed_miou=_pick(seeds, 'mIoU'),
                seed_threshold=_pick(seeds, 'best_threshold'),
                pseudo_crf_miou=_pick(crf, 'mIoU'),
                pseudo_irn_miou=_pick(irn, 'mIoU'),
                seg_val_miou=_pick(seg, 'mIoU'))
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
            ckpt = self.classifier(method)
            cam_dir = self.seeds(method, ckpt)
            masks = None
            if 'crf' in self.args.refine or 'irn' in self.args.refine:
                masks = self.pseudo(method, cam_dir)
            if 'irn' in self.args.refine:
                masks = self.irn(method, cam_dir, masks)
            self.segmenter(method, masks)
        rows = self.results()
        table = self.table(rows)
        with atomic_open(osp.join(self.work_dir, 'results.json'), 'w') as f:
            json.dump(rows, f, indent=2)
        with atomic_open(osp.join(self.work_dir, 'results.md'), 'w') as f:
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
