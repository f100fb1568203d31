"""The segmenter stage's spread over training seeds on fixed pseudo-masks
(issue 25).

What it measures: per method, the val mIoU of the segmenter of a pipeline
preset (``configs/pipelines/gen.py``'s ``segmenter``:
``deeplabv3plus_r18w32-d16_gen_pseudo.py``) trained with several
``randomness.seed`` values on the SAME pseudo-masks, the ones a pipeline
work folder already holds (``tools/run_pipeline.py --until masks``, or a
whole demo run): mean +- sample std and the range over the seeds, the
masks' own mIoU (their CRF test stage, on ``train``) and the ratio
segmenter mean / masks. Methods whose mask files are byte for byte equal
(C2AM and C2AM spatial in the demo) are named in a last column: their
segmenters differ by training noise alone. The seconds of each training
(the engine's stage times) give the stage's cost.

The segmenters train in ``<work-dir>/work_dirs/segseeds[_<tag>]/
<method>_seed<s>`` with the work folder as the current folder (the
configs' relative data path), one stage after the other (``--jobs 1``,
one CPU thread each unless OMP_NUM_THREADS is set), and are skipped when
run again (the engine's ``.done_*`` files). The table
(``segseeds[_<tag>].md`` / ``.json`` in the work folder) is also printed.

Full run, on the demo's masks (9 trainings of 2400 iterations, each tested
with and without the test CRF: about 230 s per training two at a time,
about 20 min with ``--jobs 2`` on 2026-12-03, benchmarks/README.md)::

    python tools/run_pipeline.py --work-dir work_dirs/demo --until masks
    OMP_NUM_THREADS=1 python benchmarks/bench_segmenter_seeds.py \\
        --work-dir work_dirs/demo --jobs 2

Another segmenter config or setting (``--config`` a name or path,
``--cfg-options STEM:KEY=VALUE`` for the stages of config STEM) under its
own ``--tag``::

    python benchmarks/bench_segmenter_seeds.py --work-dir work_dirs/demo \\
        --tag it600 --cfg-options \\
        deeplabv3plus_r18w32-d16_gen_pseudo:train_cfg.max_iters=600
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys
from typing import List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am.pipeline import (  # noqa: E402
    NO_CRF,
    Engine,
    Methods,
    Stage,
    add_cfg_options_argument,
    check_cfg_options,
    fmt,
    fmt_mean_std,
    has_test_crf,
    mean_std,
    read_metrics,
    work_dir_of,
)
from mmc2am.utils import find_config  # noqa: E402
from mmc2am.utils.io import atomic_open, pick_metric  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--work-dir', required=True,
        help='a pipeline work folder with the methods\' masks '
        '(tools/run_pipeline.py --until masks)')
    parser.add_argument('--pipeline', default='gen',
                        help='the pipeline config (its methods, segmenter)')
    parser.add_argument('--methods', nargs='+',
                        default=['cam', 'c2am', 'c2am_spatial'])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2],
                        help='randomness.seed of the segmenter trainings')
    parser.add_argument('--refine', choices=['crf', 'irn'], default='crf',
                        help='whose masks the segmenters train on')
    parser.add_argument('--config', default=None,
                        help='segmenter config (default: the pipeline\'s)')
    parser.add_argument('--tag', default='',
                        help='names the trainings\' folder and the table')
    parser.add_argument('--jobs', type=int, default=1,
                        help='trainings side by side')
    add_cfg_options_argument(
        parser, 'deeplabv3plus_r18w32-d16_gen_pseudo:train_cfg.max_iters=600')
    args = parser.parse_args(argv)
    check_cfg_options(parser, args.cfg_options)
    if args.jobs < 1:
        parser.error('--jobs must be at least 1')
    return args


def mask_digest(folder: str) -> Optional[str]:
    """SHA-256 over the names and bytes of the PNG files of ``folder``
    (None if it has none)."""
    if not osp.isdir(folder):
        return None
    names = sorted(n for n in os.listdir(folder) if n.endswith('.png'))
    if not names:
        return None
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode())
        with open(osp.join(folder, name), 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


class Bench:
    """The trainings (:class:`mmc2am.pipeline.Engine`) and their table."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = osp.abspath(args.work_dir)
        self.methods = Methods(args.pipeline)
        self.config = args.config or self.methods.segmenter
        self.name = 'segseeds' + (f'_{args.tag}' if args.tag else '')
        self.crf = has_test_crf(find_config(self.config))
        self.engine = Engine('segseeds', osp.join(self.work,
                                                  self.name + '.log'),
                             jobs=args.jobs, cfg_options=args.cfg_options,
                             stage_threads=1,
                             expected=lambda st: 6.0 if st.tool == 'test'
                             else 270.0)

    def masks(self, method: str) -> str:
        """The masks the segmenters of ``method`` train on (relative to
        the work folder)."""
        refine = self.args.refine
        return osp.join(work_dir_of(self.methods.config(method, refine)),
                        'masks')

    def seg_dir(self, method: str, seed: int) -> str:
        return osp.join('work_dirs', self.name, f'{method}_seed{seed}')

    def stages(self, method: str, seed: int) -> List[Stage]:
        """Train, test and (a config with a test-time CRF) test again
        without it, in ``<seg_dir>/no_crf``."""
        seg = self.seg_dir(method, seed)
        out = [
            Stage('train', self.config, work_dir=seg,
                  opts=(f'train_dataloader.dataset.mask_dir='
                        f'{self.masks(method)}', f'randomness.seed={seed}')),
            Stage('test', self.config, seg, work_dir=seg),
        ]
        if self.crf:
            out.append(Stage('test', self.config, seg,
                             work_dir=osp.join(seg, NO_CRF),
                             opts=('model.test_cfg.crf=None', )))
        return out

    def __call__(self) -> dict:
        a = self.args
        for m in a.methods:
            if mask_digest(osp.join(self.work, self.masks(m))) is None:
                raise SystemExit(
                    f'no masks of {m} in {osp.join(self.work, self.masks(m))}'
                    f': run tools/run_pipeline.py --work-dir {a.work_dir} '
                    '--until masks first')
        for m in a.methods:
            for s in a.seeds:
                train, *tests = self.stages(m, s)
                self.engine.add((m, s, 0), train, self.work, (), f'{m} s{s}')
                for i, test in enumerate(tests, 1):
                    self.engine.add((m, s, i), test, self.work, [(m, s, 0)],
                                    f'{m} s{s}')
        self.engine.say(f'{len(a.methods)} methods x {len(a.seeds)} seeds, '
                        f'--jobs {a.jobs} | {self.engine.eta({})}')
        failed = self.engine.run(keep_going=True)
        result = self.results()
        text = table(result)
        for ext, body in (('json', json.dumps(result, indent=2)),
                          ('md', text)):
            with atomic_open(osp.join(self.work, f'{self.name}.{ext}'),
                             'w') as f:
                f.write(body)
        print('\n' + text, flush=True)
        if failed:
            self.engine.fail(failed)
        return result

    def results(self) -> dict:
        """Per method: masks mIoU, per-seed segmenter mIoU and training
        seconds, their mean / std, and the methods with equal masks."""
        a = self.args
        digests = {m: mask_digest(osp.join(self.work, self.masks(m)))
                   for m in a.methods}
        out = dict(config=self.config, cfg_options=a.cfg_options,
                   seeds=a.seeds, methods={})
        for m in a.methods:
            crf = self.methods.config(m, a.refine)
            masks = pick_metric(read_metrics(osp.join(
                self.work, work_dir_of(crf), 'test_metrics.json')), 'mIoU')
            seg, raw, secs = [], [], []
            for s in a.seeds:
                d = osp.join(self.work, self.seg_dir(m, s))
                seg.append(pick_metric(read_metrics(
                    osp.join(d, 'test_metrics.json')), 'mIoU'))
                raw.append(pick_metric(read_metrics(
                    osp.join(d, NO_CRF, 'test_metrics.json')), 'mIoU')
                    if self.crf else None)
                secs.append(read_seconds(d, 'train', self.config))
            ms = mean_std(seg)
            out['methods'][m] = dict(
                name=self.methods.names[m], masks_miou=masks, seg_miou=seg,
                seg=ms, train_seconds=secs,
                seg_miou_no_crf=raw if self.crf else None,
                seg_no_crf=mean_std(raw) if self.crf else None,
                ratio=None if ms is None or not masks else
                ms['mean'] / masks,
                same_masks_as=[o for o in a.methods if o != m
                               and digests[o] == digests[m]])
        return out


def read_seconds(work: str, tool: str, config: str) -> Optional[float]:
    """The seconds the engine recorded in a finished stage's marker."""
    stem = osp.splitext(osp.basename(config))[0]
    path = osp.join(work, f'.done_{tool}_{stem}')
    if not osp.exists(path):
        return None
    with open(path) as f:
        return float(f.read().strip() or 'nan')


def table(result: dict) -> str:
    """The markdown table of :meth:`Bench.results`."""
    seeds = result['seeds']
    lines = [
        '| method | masks mIoU (train) | ' +
        ' | '.join(f'seed {s}' for s in seeds) +
        ' | segmenter mean +- std (val) | range | segmenter / masks | '
        'without test CRF | s / training | same masks as |',
        '|' + '---|' * (len(seeds) + 8)]
    for r in result['methods'].values():
        seg = [v for v in r['seg_miou'] if v is not None]
        secs = [v for v in r['train_seconds'] if v is not None]
        names = [result['methods'][o]['name'] for o in r['same_masks_as']]
        lines.append(
            f'| {r["name"]} | {fmt(r["masks_miou"])} | ' +
            ' | '.join(fmt(v) for v in r['seg_miou']) +
            f' | {fmt_mean_std(r["seg"])} | ' +
            (f'{max(seg) - min(seg):.1f}' if len(seg) > 1 else '-') +
            f' | {fmt(r["ratio"], 2)} | ' +
            (fmt_mean_std(r['seg_no_crf']) if r.get('seg_no_crf') else '-') +
            ' | ' +
            (f'{sum(secs) / len(secs):.0f}' if secs else '-') +
            f' | {", ".join(names) or "-"} |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    Bench(parse_args())()
