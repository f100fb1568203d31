"""Deconfounding forms against plain fine-tuning, on confounded generated data
(issue 17).

What it measures: the seed mIoU (``SeedMetric`` on the generated ``train``
split, best background threshold) of classifiers fine-tuned from the same
plain-CAM start point by

- ``control``: plain fine-tuning (``cam_r18_gen_ft.py``: ``c2am_r18_gen.py``
  without the adjustment and without ``GlobalCAMHook``),
- ``c2am``: C2AM's front-door adjustment (``c2am_r18_gen.py``),
- ``c2am_spatial``: its spatial form (``c2am_r18_gen_spatial.py``),
- ``conta``: CONTA, one round (``conta_r18_gen.py``; confounder set from the
  start point's CRF pseudo-masks),
- ``context``: the ``'front_door_context'`` form
  (``c2am_r18_gen_context.py``),
- ``erase``: context-only negatives (``cam_r18_gen_erase.py``: the control
  with ``EraseObjects`` in the training pipeline: with probability 0.4 an
  image's objects, by the start point's CRF pseudo-masks grown by 3 px, are
  refilled with its own background and its label emptied), an intervention
  on the data where the other forms act on the pooled score,

at three strengths of the data's confounding (the generator's context
co-occurrence ``--context-probs``, default 0.5 / 0.8 / 0.95: the probability
that an image's background is its first object's class context), with
several training seeds each (``randomness.seed`` of every classifier stage,
the start point included). ``--conta-rounds N`` (default 1) iterates CONTA
as its paper does (classifier -> pseudo-masks -> confounder set ->
classifier): for k = 2..N, after the forms, the CAM files of train_aug and
CRF pseudo-masks of round k-1's CONTA classifier (thresholds from its own
seed sweep; ``work_dirs/conta_trainaug``, ``pseudo_mask_conta`` for round 1,
``conta_round<k>_trainaug``, ``pseudo_mask_conta_round<k>`` after), then
``conta_r18_gen.py`` trained in ``work_dirs/conta_round<k>`` with the
hook's ``mask_dir`` on those masks, from the same start point (its
``load_from``) with round 1's lr, epochs and test scales, and its seed test;
a row "CONTA round k" each. Every form fine-tunes for the same epochs (5, as
``c2am_r18_gen.py``: 75 steps of 16 images on the default data) at the same
lr (``--lr``, ``optim_wrapper.optimizer.lr``, head x10 in every config), and
is tested with the same scales (``c2am_r18_gen.py``'s six,
``model.test_cfg.scales``, passed where a config has others: ``conta_r18_gen``
inherits ``cam_r18_gen``'s four). The default lr, 5e-3, is 10x the configs'
5e-4: at the configs' lr the fine-tuning barely moves the weights and the
forms changed the seed mIoU by less than 0.5 (measured before:
``configs/README.md``, issue 10), so that lr cannot tell them apart;
``--lr config`` keeps each config's own lr (CONTA's is 0.1).

The table (``<work-dir>/deconfounding.md`` / ``.json``, also printed) has a
row per form and the start point (plain CAM, 15 epochs, tested with its own
four scales), and per strength: the seed mIoU, mean +- sample std over the
seeds (and the mean best threshold); the difference to the control, mean +-
std of the per-seed differences; and the CRF pseudo-mask mIoU
(``crf_gen_cam.py``'s rule: thresholds from the form's own seed
sweep) of the start point and of the best ``--crf-best`` forms of that
strength by mean seed mIoU (with ``--conta-rounds`` > 1 also of CONTA's
rounds whose masks fed the next round).

Layout: ``<work-dir>/p<prob>/data/gen_voc/VOC2012`` (generated once per
strength by ``tools/generate_voc.py``) and ``<work-dir>/p<prob>/seed<s>/``,
one folder per seed, whose ``data`` links to the strength's data and which is
the current folder of every stage (``tools/train.py`` / ``tools/test.py``),
so the configs' relative default paths chain (``work_dirs/cam_r18_gen/
epoch_15.pth``, ``work_dirs/crf_gen_cam/masks``, ...). The stages run
with the pipeline engine (:class:`mmc2am.pipeline.Engine`): a finished
stage leaves a ``.done_*`` file in its work dir and is skipped when the
command is run again (the CRF stages of ``conta`` that round 2 made are
not rerun when ``conta`` is one of the best forms); a killed training
resumes from its last checkpoint; a failed stage stops its sequence only.
A (strength, seed) sequence runs its stages one after another, ``--jobs``
stages at a time, each with one CPU thread; the CRF stages of a strength
run when all its seeds are done.

Full run (2 CPU cores, ``--jobs 2``: roughly 13 min of stage time per
(strength, seed), i.e. about an hour for the 9 sequences on an idle machine,
plus about 2.5 min per (strength, seed) for each CONTA round after the
first; the estimate from the measured stage times of
``tools/run_pipeline.py``)::

    python benchmarks/bench_deconfounding.py --work-dir work_dirs/deconfounding

Tiny check of the chain (one strength, one seed, 16 train_aug images, 4 + 1
epochs, two CONTA rounds: the ``conta_r18_gen:`` options reach every round;
3 min on the loaded 2-core machine)::

    F="cam_r18_gen_ft c2am_r18_gen c2am_r18_gen_spatial conta_r18_gen"
    F="$F c2am_r18_gen_context cam_r18_gen_erase"
    O="cam_r18_gen:train_cfg.max_epochs=4 cam_r18_gen:param_scheduler.end=4"
    for f in $F; do O="$O $f:train_cfg.max_epochs=1 $f:param_scheduler.end=1"
        O="$O $f:load_from=work_dirs/cam_r18_gen/epoch_4.pth"; done
    python benchmarks/bench_deconfounding.py --work-dir work_dirs/deconf_tiny \\
        --context-probs 0.8 --seeds 0 --jobs 1 --num-train 8 --num-val 4 \\
        --num-aug 8 --classes cat sheep --conta-rounds 2 --cfg-options $O
"""
import argparse
import json
import os
import os.path as osp
import sys
from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmc2am.pipeline import (  # noqa: E402
    Engine,
    Stage,
    add_cfg_options_argument,
    add_generator_arguments,
    check_cfg_options,
    config_stem,
    fmt_mean_std,
    generator_options,
    mean_std,
    prepare_generated,
    read_metrics,
    work_dir_of,
)
from mmc2am.utils.config_files import find_config  # noqa: E402
from mmc2am.utils.io import atomic_open, pick_metric  # noqa: E402

DATA = 'data/gen_voc/VOC2012'  # the generated-data configs' data_root
START = 'cam_r18_gen.py'  # plain CAM from random init: the start point
START_TRAINAUG = 'cam_r18_gen_trainaug.py'  # its CAM files of train_aug
CRF = 'crf_gen_cam.py'  # CRF pseudo-masks (thresholds from seeds)
# the form whose test scales and fine-tuning epochs every form gets
REFERENCE = 'c2am_r18_gen.py'

# form: (training config, row label)
FORMS: Dict[str, Tuple[str, str]] = {
    'control': ('cam_r18_gen_ft.py', 'control (plain fine-tuning)'),
    'c2am': ('c2am_r18_gen.py', 'C2AM'),
    'c2am_spatial': ('c2am_r18_gen_spatial.py', 'C2AM spatial'),
    'conta': ('conta_r18_gen.py', 'CONTA'),
    'context': ('c2am_r18_gen_context.py', 'C2AM context'),
    'erase': ('cam_r18_gen_erase.py', 'erase (context-only negatives)'),
}
CONTA = FORMS['conta'][0]

# the options that make a classifier config's test write the CAM files of
# train_aug, as cam_r18_gen_trainaug.py does for cam_r18_gen.py
TRAINAUG_OPTS = (
    'test_dataloader.dataset.ann_file=ImageSets/Segmentation/trainaug.txt',
    'test_dataloader.dataset.data_prefix.seg_map_path=SegmentationClassAug',
    'default_hooks.cam_file.type=CAMFileHook',
)


@lru_cache(maxsize=None)
def _load(config: str):
    from mmengine.config import Config
    return Config.fromfile(find_config(config),
                           import_custom_modules=False)


def _scales(config: str) -> Tuple[float, ...]:
    return tuple(float(s) for s in _load(config).model.test_cfg.scales)


def _epochs(config: str) -> int:
    return int(_load(config).train_cfg.max_epochs)


@lru_cache(maxsize=None)
def matching(config: str) -> Tuple[Tuple[str, ...], Tuple[str, ...],
                                   Tuple[str, ...]]:
    """``(test options, train options, notes)`` that give a form config
    :data:`REFERENCE`'s test scales and fine-tuning epochs where it has
    others."""
    test, train, notes = [], [], []
    scales = _scales(REFERENCE)
    if _scales(config) != scales:
        test.append('model.test_cfg.scales=(' +
                    ','.join(repr(s) for s in scales) + ')')
        notes.append(f'{config_stem(config)}: test scales '
                     f'{_scales(config)} -> {scales}')
    epochs = _epochs(REFERENCE)
    if _epochs(config) != epochs:
        train += [f'train_cfg.max_epochs={epochs}',
                  f'param_scheduler.end={epochs}']
        notes.append(f'{config_stem(config)}: {_epochs(config)} -> {epochs} '
                     'fine-tuning epochs')
    return tuple(test), tuple(train), tuple(notes)


def lr_options(lr: str) -> Tuple[str, ...]:
    """``--lr``: a number for every form, or ``config``."""
    return () if lr == 'config' else (f'optim_wrapper.optimizer.lr={lr}', )


def conta_name(k: int) -> str:
    """Row and folder name of CONTA's round ``k`` (1: the ``conta`` form)."""
    return 'conta' if k == 1 else f'conta_round{k}'


def conta_dir(k: int) -> str:
    """Work dir of CONTA's round ``k`` classifier."""
    return work_dir_of(CONTA) if k == 1 else f'work_dirs/{conta_name(k)}'


def conta_rows(rounds: int) -> List[str]:
    """The rows of CONTA's rounds 2..``rounds``."""
    return [conta_name(k) for k in range(2, rounds + 1)]


def table_rows(forms: Sequence[str], rounds: int = 1) -> List[str]:
    """The table's rows in order: the start point, the forms, CONTA's
    further rounds right after ``conta``."""
    rows = ['start']
    for f in forms:
        rows.append(f)
        if f == 'conta':
            rows += conta_rows(rounds)
    return rows


def _mask_dir_option(masks: str) -> str:
    """The --cfg-options item that points CONTA's ConfounderSetHook at
    ``masks``."""
    hooks = _load(CONTA).custom_hooks
    index = [h['type'] for h in hooks].index('ConfounderSetHook')
    return f'custom_hooks.{index}.mask_dir={masks}'


def conta_round_stages(seed: int, k: int, lr: str) -> List[Stage]:
    """CONTA's round ``k`` >= 2: the CAM files of train_aug and CRF
    pseudo-masks of round ``k - 1``'s classifier (thresholds from its own
    seed sweep; for round 1 the stages of :func:`crf_stages`), then a CONTA
    training whose confounder set comes from those masks, fine-tuned from
    the same start point (the config's ``load_from``) with round 1's lr,
    epochs and options, and its seed test."""
    if k < 2:
        raise ValueError(f'CONTA round {k}: the rounds after the first are '
                         '2, 3, ...')
    rnd = (f'randomness.seed={seed}', )
    test, train, _ = matching(CONTA)
    prev = conta_name(k - 1)
    work = conta_dir(k)
    return _crf_stages(seed, CONTA, prev, conta_dir(k - 1)) + [
        Stage('train', CONTA, work_dir=work,
              opts=rnd + lr_options(lr) + train + (_mask_dir_option(
                  f'work_dirs/pseudo_mask_{prev}/masks'), )),
        Stage('test', CONTA, work_dir=work, ckpt_of=work, opts=rnd + test),
    ]


def sequence(seed: int, forms: Sequence[str], lr: str,
             conta_rounds: int = 1) -> List[Stage]:
    """The stages of one (strength, seed), in order: the start point, the
    forms, then CONTA's rounds 2..``conta_rounds``."""
    rnd = (f'randomness.seed={seed}', )
    start = work_dir_of(START)
    out = [
        Stage('train', START, work_dir=start, opts=rnd),
        Stage('test', START, work_dir=start, ckpt_of=start,
              opts=rnd),  # seeds
        Stage('test', START_TRAINAUG,
              work_dir=work_dir_of(START_TRAINAUG), ckpt_of=start,
              opts=rnd),  # CAM files of train_aug
        # CONTA's confounder set
        Stage('test', CRF, work_dir=work_dir_of(CRF)),
    ]
    for form in forms:
        config = FORMS[form][0]
        test, train, _ = matching(config)
        work = work_dir_of(config)
        out += [Stage('train', config, work_dir=work,
                      opts=rnd + lr_options(lr) + train),
                Stage('test', config, work_dir=work, ckpt_of=work,
                      opts=rnd + test)]
    if conta_rounds > 1 and 'conta' not in forms:
        raise ValueError('--conta-rounds > 1 needs the conta form (round 1)')
    for k in range(2, conta_rounds + 1):
        out += conta_round_stages(seed, k, lr)
    return out


def crf_stages(seed: int, form: str) -> List[Stage]:
    """CAM files of train_aug and CRF pseudo-masks of a form's classifier,
    with thresholds from its own seed sweep."""
    config = FORMS[form][0]
    return _crf_stages(seed, config, form, work_dir_of(config))


def _crf_stages(seed: int, config: str, name: str,
                classifier: str) -> List[Stage]:
    """:func:`crf_stages` of the classifier ``config`` trained in the work
    dir ``classifier``: CAM files in ``work_dirs/<name>_trainaug``, masks in
    ``work_dirs/pseudo_mask_<name>``."""
    test, _, _ = matching(config)
    cams = f'work_dirs/{name}_trainaug'
    masks = f'work_dirs/pseudo_mask_{name}'
    return [
        Stage('test', config, work_dir=cams, ckpt_of=classifier,
              opts=(f'randomness.seed={seed}', ) + test + TRAINAUG_OPTS),
        # the masks: <its work dir>/masks (MaskFileHook's default)
        Stage('test', CRF, work_dir=masks, opts=(
            f'test_dataloader.dataset.cam_dir={cams}/cams',
            'model.thresholds_from_seeds.metrics='
            f'{classifier}/test_metrics.json')),
    ]


def strength_dir(work: str, prob: float) -> str:
    return osp.join(work, f'p{prob:g}')


def seed_dir(work: str, prob: float, seed: int) -> str:
    return osp.join(strength_dir(work, prob), f'seed{seed}')


# Seconds per stage on the 2-core machine with two stages side by side
# (run_pipeline's measured default run; the others estimated from them):
# only the estimate of the time left. Keys: (tool, stem) and, for the CRF
# phase, ('trainaug', '*') / ('crf', '*').
EXPECTED = {
    ('train', 'cam_r18_gen'): 116, ('test', 'cam_r18_gen'): 11,
    ('test', 'cam_r18_gen_trainaug'): 31, ('test', 'crf_gen_cam'): 9,
    ('train', 'cam_r18_gen_ft'): 45, ('train', 'c2am_r18_gen'): 99,
    ('train', 'c2am_r18_gen_spatial'): 91, ('train', 'conta_r18_gen'): 55,
    ('train', 'c2am_r18_gen_context'): 50, ('train', 'cam_r18_gen_erase'): 50,
    ('trainaug', '*'): 60, ('crf', '*'): 9,
}


def expected(stage: Stage) -> float:
    if stage.work_dir.endswith('_trainaug') and stage.config != \
            START_TRAINAUG:
        return EXPECTED[('trainaug', '*')]
    if stage.config == CRF and stage.work_dir != work_dir_of(CRF):
        return EXPECTED[('crf', '*')]
    return EXPECTED.get((stage.tool, config_stem(stage.config)),
                        18 if stage.tool == 'test' else 60)


class Bench:
    """Runs the sequences with :class:`mmc2am.pipeline.Engine`; see the
    module docstring."""

    def __init__(self, args):
        self.args = args
        self.work = osp.abspath(args.work_dir)
        os.makedirs(self.work, exist_ok=True)
        # one thread per stage: --jobs runs sequences side by side instead
        self.engine = Engine('deconf', osp.join(self.work, 'bench.log'),
                             jobs=args.jobs, cfg_options=args.cfg_options,
                             expected=expected, stage_threads=1)

    def data(self, prob: float) -> None:
        """The strength's generated data (the generator's log beside it)."""
        folder = strength_dir(self.work, prob)
        prepare_generated(self.engine, osp.join(folder, DATA), folder,
                          self.args, prob, name=f'p{prob:g} data')

    def seed_folder(self, prob: float, seed: int) -> str:
        folder = seed_dir(self.work, prob, seed)
        os.makedirs(folder, exist_ok=True)
        link = osp.join(folder, 'data')
        if not osp.lexists(link):
            os.symlink(osp.join('..', 'data'), link)
        return folder

    def add_chain(self, key: tuple, stages: Sequence[Stage], folder: str,
                  label: str) -> tuple:
        """Jobs of ``stages``, each after the one before (keys
        ``key + (i, )``); the key of the last."""
        prev = ()
        for i, stage in enumerate(stages):
            self.engine.add(key + (i, ), stage, folder, prev, label)
            prev = (key + (i, ), )
        return prev[0]

    def add_crf(self, prob: float) -> None:
        """When every seed of a strength is done: the CRF stages of its best
        forms, a chain per (seed, form)."""
        best = self.best_forms(prob)
        self.engine.say(f'p{prob:g}: all seeds done; CRF pseudo-masks of '
                        f'{", ".join(best) or "no form"}')
        for s in self.args.seeds:
            for f in best:
                self.add_chain((prob, s, f), crf_stages(s, f),
                               self.seed_folder(prob, s),
                               f'p{prob:g} seed{s} {f}')

    def __call__(self) -> dict:
        a = self.args
        for prob in a.context_probs:
            self.data(prob)
        n_crf = min(a.crf_best, len(a.forms)) * len(a.seeds)
        crf_plan = crf_stages(0, a.forms[0])
        for prob in a.context_probs:
            last = [self.add_chain(
                (prob, s), sequence(s, a.forms, a.lr, a.conta_rounds),
                self.seed_folder(prob, s), f'p{prob:g} seed{s}')
                for s in a.seeds]
            self.engine.defer(
                ('crf', prob), lambda p=prob: self.add_crf(p), last,
                stages=n_crf * len(crf_plan),
                seconds=n_crf * sum(map(expected, crf_plan)))
        self.engine.say(f'{len(a.context_probs)} strengths x {len(a.seeds)} '
                        f'seeds, --jobs {a.jobs} | {self.engine.eta({})}')
        failed = self.engine.run(keep_going=True)
        result = self.results()
        text = table(result)
        with atomic_open(osp.join(self.work, 'deconfounding.json'), 'w') as f:
            json.dump(result, f, indent=2)
        with atomic_open(osp.join(self.work, 'deconfounding.md'), 'w') as f:
            f.write(text)
        self.engine.say(f'{len(failed)} failed stages' if failed else
                        f'all done | {self.engine.eta({})}')
        print('\n' + text, flush=True)
        if failed:
            self.engine.fail(failed)
        return result

    # results ------------------------------------------------------------
    def seed_values(self, prob: float) -> Dict[str, Dict[int, dict]]:
        return seed_values(self.work, prob, self.args.seeds, self.args.forms,
                           self.args.conta_rounds)

    def best_forms(self, prob: float) -> List[str]:
        return best_forms(self.seed_values(prob), self.args.forms,
                          self.args.crf_best)

    def results(self) -> dict:
        a = self.args
        notes = [n for f in a.forms for n in matching(FORMS[f][0])[2]]
        if a.lr != 'config':
            for f in a.forms:
                lr = _load(FORMS[f][0]).optim_wrapper.optimizer.lr
                if float(lr) != float(a.lr):
                    notes.append(f'{config_stem(FORMS[f][0])}: lr {lr:g} -> '
                                 f'{a.lr}')
        out = dict(
            settings=dict(
                context_probs=a.context_probs, seeds=a.seeds, lr=a.lr,
                forms=a.forms, conta_rounds=a.conta_rounds,
                crf_best=a.crf_best,
                data={k: v for k, v in generator_options(self.args, 0).items()
                      if k != 'context_prob'},
                cfg_options=a.cfg_options,
                test_scales=list(_scales(REFERENCE)),
                fine_tuning_epochs=_epochs(REFERENCE), overrides=notes),
            strengths={})
        for prob in a.context_probs:
            values = self.seed_values(prob)
            crf = best_forms(values, a.forms, a.crf_best)
            out['strengths'][f'{prob:g}'] = summarise(values, a.forms, crf,
                                                      a.conta_rounds)
        return out


def row_dirs(row: str) -> Tuple[str, str]:
    """The folders under ``work_dirs`` of a row's seed test and CRF masks."""
    if row == 'start':
        return config_stem(START), config_stem(CRF)
    if row in FORMS:
        return config_stem(FORMS[row][0]), f'pseudo_mask_{row}'
    return row, f'pseudo_mask_{row}'  # CONTA's round k >= 2


def seed_values(work: str, prob: float, seeds: Sequence[int],
                forms: Sequence[str],
                conta_rounds: int = 1) -> Dict[str, Dict[int, dict]]:
    """Per row (``'start'``, the forms and CONTA's rounds 2..
    ``conta_rounds``) and seed: ``seed_miou``, ``best_threshold`` and
    ``crf_miou`` (None where missing), from the test work dirs'
    ``test_metrics.json``."""
    rows = {}
    for row in table_rows(forms, conta_rounds):
        rows[row] = {}
        seeds_dir, crf_dir = row_dirs(row)
        for s in seeds:
            wd = osp.join(seed_dir(work, prob, s), 'work_dirs')
            seeds_m, crf_m = (read_metrics(osp.join(
                wd, d, 'test_metrics.json')) for d in (seeds_dir, crf_dir))
            rows[row][s] = dict(
                seed_miou=pick_metric(seeds_m, 'mIoU'),
                best_threshold=pick_metric(seeds_m, 'best_threshold'),
                crf_miou=pick_metric(crf_m, 'mIoU'))
    return rows


def best_forms(values: Dict[str, Dict[int, dict]], forms: Sequence[str],
               n: int) -> List[str]:
    """The ``n`` forms with the highest mean seed mIoU (those with one)."""
    means = {}
    for f in forms:
        m = mean_std([v['seed_miou'] for v in values[f].values()])
        if m is not None:
            means[f] = m['mean']
    return sorted(means, key=lambda f: -means[f])[:n]


def summarise(values: Dict[str, Dict[int, dict]], forms: Sequence[str],
              crf_forms: Sequence[str], conta_rounds: int = 1) -> dict:
    """Per row: the per-seed values, the seed mIoU, best threshold and (start,
    ``crf_forms`` and, with ``conta_rounds`` > 1, CONTA's rounds: their masks
    are the next round's input) CRF mIoU over the seeds, and the per-seed
    difference to the control's seed mIoU over the seeds."""
    control = values.get('control')
    out = dict(crf_forms=list(crf_forms), rows={})
    with_crf = {'start', *crf_forms}
    if conta_rounds > 1:
        with_crf |= {'conta', *conta_rows(conta_rounds)}
    for row in table_rows(forms, conta_rounds):
        per = values[row]
        r = dict(per_seed={str(s): v for s, v in per.items()})
        r['seed_miou'] = mean_std([v['seed_miou'] for v in per.values()])
        r['best_threshold'] = mean_std(
            [v['best_threshold'] for v in per.values()])
        r['crf_miou'] = mean_std(
            [v['crf_miou'] for v in per.values()]) if row in with_crf \
            else None
        diff = None
        if control is not None and row != 'control':
            diff = mean_std([
                v['seed_miou'] - control[s]['seed_miou']
                for s, v in per.items()
                if v['seed_miou'] is not None and s in control
                and control[s]['seed_miou'] is not None])
        r['diff_to_control'] = diff
        out['rows'][row] = r
    return out


def start_label() -> str:
    return (f'start (plain CAM, {_epochs(START)} epochs, its own '
            f'{len(_scales(START))} test scales)')


def table(result: dict) -> str:
    """The markdown table of :meth:`Bench.results`' output."""
    s = result['settings']
    probs = list(result['strengths'])
    n_seeds = len(s['seeds'])
    head = ['form']
    for p in probs:
        head += [f'p={p}: seed mIoU (t*)', f'p={p}: vs control',
                 f'p={p}: CRF mIoU']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    rounds = s.get('conta_rounds', 1)
    rows = table_rows(s['forms'], rounds)
    labels = dict(start=start_label(), **{f: FORMS[f][1] for f in FORMS})
    labels.update({conta_name(k): f'CONTA round {k}'
                   for k in range(2, rounds + 1)})
    for row in rows:
        cells = [labels[row]]
        for p in probs:
            r = result['strengths'][p]['rows'][row]
            seed = fmt_mean_std(r['seed_miou'])
            if r['seed_miou'] is not None:
                if r['seed_miou']['n'] < n_seeds:
                    seed += f' [{r["seed_miou"]["n"]} seeds]'
                if r['best_threshold'] is not None:
                    seed += f' ({r["best_threshold"]["mean"]:.2f})'
            cells += [seed, '-' if row == 'control' else
                      fmt_mean_std(r['diff_to_control'], sign=True),
                      fmt_mean_std(r['crf_miou'])]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lr = s['lr']
    lines += [
        '',
        f'p: context co-occurrence of the generated data; mean +- sample std '
        f'over training seeds {", ".join(map(str, s["seeds"]))}. Seed mIoU '
        '(SeedMetric, train split) at the best background threshold (mean '
        't* in brackets); "vs control": mean +- std of the per-seed '
        'differences to the control; CRF mIoU: CRF pseudo-masks '
        '(crf_gen_cam.py\'s rule, thresholds from the row\'s own '
        f'seeds) of the start point and the best {s["crf_best"]} forms of '
        'each strength by mean seed mIoU.',
        f'Fine-tuning: {s["fine_tuning_epochs"]} epochs from the start '
        'point of the same seed, lr '
        + ('of each config' if lr == 'config' else f'{lr} (head x10) for '
           'every form') +
        '; test scales ' + ', '.join(f'{x:g}' for x in s['test_scales']) +
        ' + flip for every form.',
    ]
    if rounds > 1:
        lines.append(
            f'CONTA round k (2..{rounds}): {config_stem(CONTA)} fine-tuned '
            'from the same start point, its confounder set from the CRF '
            'pseudo-masks of round k-1\'s classifier (thresholds from that '
            'classifier\'s seeds); CRF mIoU of a CONTA round: its masks, '
            'the next round\'s input.')
    if s['overrides']:
        lines.append('Config overrides: ' + '; '.join(s['overrides']) + '.')
    if s['cfg_options']:
        lines.append('--cfg-options (not the configs\' results): ' +
                     ' '.join(s['cfg_options']))
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--context-probs', nargs='+', type=float,
                   default=[0.5, 0.8, 0.95],
                   help='confounding strengths: the generator\'s context '
                   'co-occurrence')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2],
                   help='training seeds (randomness.seed of every classifier '
                   'stage)')
    p.add_argument('--work-dir', default='work_dirs/deconfounding')
    p.add_argument('--jobs', type=int, default=2,
                   help='stages side by side (the (strength, seed) '
                   'sequences), one CPU thread each')
    p.add_argument('--lr', default='5e-3',
                   help='fine-tuning lr of every form '
                   '(optim_wrapper.optimizer.lr), or "config": each '
                   'config\'s own')
    p.add_argument('--forms', nargs='+', default=list(FORMS),
                   choices=list(FORMS))
    p.add_argument('--conta-rounds', type=int, default=1,
                   help='CONTA\'s rounds (classifier -> CRF pseudo-masks -> '
                   'confounder set -> classifier); rounds 2..N run after the '
                   'forms, each from the start point')
    p.add_argument('--crf-best', type=int, default=2,
                   help='CRF pseudo-masks of the best N forms per strength')
    add_cfg_options_argument(p, 'cam_r18_gen:train_cfg.max_epochs=4')
    add_generator_arguments(p, 'generated data (tools/run_pipeline.py\'s '
                            'gen preset)', context_prob=False)
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error('--jobs must be at least 1')
    if args.conta_rounds < 1:
        p.error('--conta-rounds must be at least 1')
    if args.conta_rounds > 1 and 'conta' not in args.forms:
        p.error('--conta-rounds > 1 needs the conta form in --forms (its '
                'first round)')
    if args.crf_best < 0:
        p.error('--crf-best must be at least 0')
    if args.lr != 'config':
        try:
            if float(args.lr) <= 0:
                raise ValueError
        except ValueError:
            p.error(f'--lr takes a positive number or "config", got '
                    f'{args.lr!r}')
    check_cfg_options(p, args.cfg_options)
    args.forms = [f for f in FORMS if f in args.forms]  # table order
    return args


def main(argv=None):
    Bench(parse_args(argv))()


if __name__ == '__main__':
    main()
