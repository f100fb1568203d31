"""Seed mIoU of classifier-stage recipes over several training seeds.

Each recipe is a training config (and, for a fine-tuning recipe, the recipe
whose checkpoint it starts from) plus ``--cfg-options``; every recipe is
trained with ``tools/train.py`` once per seed (``randomness.seed``) and its
seeds are scored with ``tools/test.py`` (``SeedMetric`` on ``train``). The
table (mean +- std over seeds of the best-threshold mIoU, the best threshold
and the mIoU at ``--fixed-thr``) is printed and written to
``<work-dir>/recipes.md`` / ``recipes.json``. Finished runs are reused.

Example (issue 10: reference optimizer vs momentum 0.9, C2AM reductions)::

    python tools/generate_voc.py data/gen_voc/VOC2012 --num-train 60 \\
        --num-val 30 --num-aug 120
    python tools/compare_recipes.py --seeds 0 1 2 --work-dir work_dirs/recipes
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from typing import Dict, List

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am.utils.io import atomic_open, latest_seed_sweep, seed_miou_at  # noqa: E402

C = 'configs/'
# name: (train config, start recipe or None, extra --cfg-options)
RECIPES: Dict[str, tuple] = {
    'cam': (C + 'cam/cam_r18_gen.py', None, []),
    'cam_m1e-4': (C + 'cam/cam_r18_gen_m1e-4.py', None, []),
    'c2am': (C + 'c2am/c2am_r18_gen.py', 'cam', []),
    'c2am_m09': (C + 'c2am/c2am_r18_gen_m09.py', 'cam', []),
    'c2am_all': (C + 'c2am/c2am_r18_gen.py', 'cam',
                 ['custom_hooks.0.reduce=all']),
    'c2am_high_res': (C + 'c2am/c2am_r18_gen.py', 'cam',
                      ['custom_hooks.0.cam_resolution=high_res']),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--recipes', nargs='+', default=list(RECIPES),
                   choices=list(RECIPES))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--data-root', default='data/gen_voc/VOC2012')
    p.add_argument('--work-dir', default='work_dirs/recipes')
    p.add_argument('--fixed-thr', type=float, default=0.5,
                   help='also report the seed mIoU at this threshold')
    return p.parse_args()


def _run(cmd: List[str], log: str) -> None:
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    with open(log, 'a') as f:
        ret = subprocess.call(cmd, cwd=ROOT, env=env, stdout=f,
                              stderr=subprocess.STDOUT)
    if ret != 0:
        raise SystemExit(f'failed (exit {ret}): {" ".join(cmd)}; see {log}')


def _last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def main() -> None:
    args = parse_args()
    work = osp.abspath(args.work_dir)
    data = osp.abspath(args.data_root)
    data_opts = [f'{k}.dataset.data_root={data}' for k in
                 ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    todo = list(args.recipes)
    for name in args.recipes:  # starts first
        start = RECIPES[name][1]
        if start and start not in todo:
            todo.insert(0, start)
    results: Dict[str, list] = {}
    for seed in args.seeds:
        for name in sorted(todo, key=lambda n: RECIPES[n][1] is not None):
            cfg, start, extra = RECIPES[name]
            d = osp.join(work, f'seed{seed}', name)
            os.makedirs(d, exist_ok=True)
            opts = data_opts + [f'randomness.seed={seed}'] + extra
            if start:
                opts.append('load_from=' + _last_checkpoint(
                    osp.join(work, f'seed{seed}', start)))
            if not osp.exists(osp.join(d, '.trained')):
                print(f'[recipes] seed {seed} {name}: train', flush=True)
                _run([sys.executable, 'tools/train.py', cfg, '--work-dir', d,
                      '--cfg-options', *opts], osp.join(d, 'train.log'))
                open(osp.join(d, '.trained'), 'w').close()
            metrics_file = osp.join(d, 'seeds', 'test_metrics.json')
            if not osp.exists(metrics_file):
                print(f'[recipes] seed {seed} {name}: seeds', flush=True)
                _run([sys.executable, 'tools/test.py', cfg,
                      _last_checkpoint(d), '--work-dir',
                      osp.join(d, 'seeds'), '--cfg-options', *data_opts,
                      *extra], osp.join(d, 'test.log'))
            with open(metrics_file) as f:
                m = json.load(f)
            m = {k.split('/')[-1]: v for k, v in m.items()}
            # the whole sweep (SeedMetric's seed_sweep.json in the log dir)
            m['fixed'] = seed_miou_at(
                latest_seed_sweep(osp.join(d, 'seeds')), args.fixed_thr)
            results.setdefault(name, []).append(m)
    rows = []
    for name in args.recipes:
        runs = results[name]

        best = [r['mIoU'] for r in runs]
        thr = [r['best_threshold'] for r in runs]
        fixed = [r['fixed'] for r in runs]
        rows.append(dict(recipe=name, config=RECIPES[name][0],
                         options=RECIPES[name][2], best=best, thr=thr,
                         fixed=fixed, seeds=args.seeds))

    def ms(v):
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        return f'{statistics.mean(v):.1f} +- {sd:.1f}'

    lines = [f'| recipe | seed mIoU, best t | best t | seed mIoU at '
             f't = {args.fixed_thr} | config / options |', '|---|---|---|---|---|']
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {ms(r['best'])} | "
            f"{statistics.mean(r['thr']):.2f} | {ms(r['fixed'])} | "
            f"`{osp.basename(r['config'])}` {' '.join(r['options'])} |")
    table = '\n'.join(lines)
    print(table)
    with atomic_open(osp.join(work, 'recipes.md'), 'w') as f:
        f.write(table + '\n')
    with atomic_open(osp.join(work, 'recipes.json'), 'w') as f:
        json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
