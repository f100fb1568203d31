"""Seed mIoU of classifier-stage recipes over several training seeds.

Each recipe is a training config (and, for a fine-tuning recipe, the recipe
whose checkpoint it starts from) plus ``--cfg-options``; every recipe is
trained with ``tools/train.py`` once per seed (``randomness.seed``) and its
seeds are scored with ``tools/test.py`` (``SeedMetric`` on ``train``), the
stages run by :class:`mmc2am.pipeline.Engine` in ``<work-dir>/seed<s>/
<recipe>`` (the seed test in its ``seeds`` folder). The table (mean +- std
over seeds of the best-threshold mIoU, the best threshold and the mIoU at
``--fixed-thr``) is printed and written to ``<work-dir>/recipes.md`` /
``recipes.json``. Finished stages are skipped when the command is run
again.

Example (issue 10: reference optimizer vs momentum 0.9, C2AM reductions)::

    python tools/generate_voc.py data/gen_voc/VOC2012 --num-train 60 \\
        --num-val 30 --num-aug 120
    python tools/compare_recipes.py --seeds 0 1 2 --work-dir work_dirs/recipes
"""
import argparse
import json
import os.path as osp
import statistics
import sys
from typing import Dict

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am.pipeline import Engine, Stage, fmt_mean_std, mean_std, read_metrics  # noqa: E402
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--recipes', nargs='+', default=list(RECIPES),
                   choices=list(RECIPES))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--data-root', default='data/gen_voc/VOC2012')
    p.add_argument('--work-dir', default='work_dirs/recipes')
    p.add_argument('--fixed-thr', type=float, default=0.5,
                   help='also report the seed mIoU at this threshold')
    return p.parse_args(argv)


def recipe_dir(seed: int, name: str) -> str:
    """A recipe's training work dir, relative to the work folder."""
    return osp.join(f'seed{seed}', name)


def add_stages(engine: Engine, work: str, args) -> None:
    """Per seed and recipe (and the recipes they start from) its training
    (from its start recipe's last checkpoint) and its seed test."""
    data = osp.abspath(args.data_root)
    data_opts = tuple(f'{k}.dataset.data_root={data}' for k in
                      ('train_dataloader', 'val_dataloader',
                       'test_dataloader'))
    todo = set(args.recipes) | {RECIPES[n][1] for n in args.recipes
                                if RECIPES[n][1]}
    for seed in args.seeds:
        for name in [n for n in RECIPES if n in todo]:
            cfg, start, extra = RECIPES[name]
            d = recipe_dir(seed, name)
            label = f'seed{seed} {name}'
            engine.add(('train', seed, name), Stage(
                'train', osp.join(ROOT, cfg), work_dir=d,
                opts=data_opts + (f'randomness.seed={seed}', *extra),
                load_of=recipe_dir(seed, start) if start else None),
                work, [('train', seed, start)] if start else [], label)
            engine.add(('test', seed, name), Stage(
                'test', osp.join(ROOT, cfg), d, osp.join(d, 'seeds'),
                opts=data_opts + tuple(extra)), work, [('train', seed, name)],
                label)


def main(argv=None) -> None:
    args = parse_args(argv)
    work = osp.abspath(args.work_dir)
    engine = Engine('recipes', osp.join(work, 'recipes.log'),
                    stage_threads=1)
    add_stages(engine, work, args)
    engine.run()
    rows = []
    for name in args.recipes:
        runs = []
        for seed in args.seeds:
            seeds = osp.join(work, recipe_dir(seed, name), 'seeds')
            m = read_metrics(osp.join(seeds, 'test_metrics.json'))
            m = {k.split('/')[-1]: v for k, v in m.items()}
            # the whole sweep (SeedMetric's seed_sweep.json in the log dir)
            m['fixed'] = seed_miou_at(latest_seed_sweep(seeds),
                                      args.fixed_thr)
            runs.append(m)
        rows.append(dict(recipe=name, config=RECIPES[name][0],
                         options=RECIPES[name][2],
                         best=[r['mIoU'] for r in runs],
                         thr=[r['best_threshold'] for r in runs],
                         fixed=[r['fixed'] for r in runs], seeds=args.seeds))

    def ms(v):  # one seed: std 0.0
        m = mean_std(v)
        return fmt_mean_std(dict(m, std=m['std'] or 0.0))

    lines = [f'| recipe | seed mIoU, best t | best t | seed mIoU at '
             f't = {args.fixed_thr} | config / options |',
             '|---|---|---|---|---|']
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
