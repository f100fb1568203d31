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
- ``paste``: object-context recombination (issue 26,
  ``cam_r18_gen_paste.py``: the control with ``PasteObjects``, CDA's
  intervention: with probability 0.5 an image gets an object of a class it
  lacks, cut from a single-class image by the start point's CRF
  pseudo-masks, feathered, union label),
- ``erase_paste``: both (``cam_r18_gen_erase_paste.py``: erase, then
  paste),
- ``wood``: W-OoD with the erase negatives as its OoD images (issue 26,
  ``cam_r18_gen_wood.py``: erase's pipeline, the negatives hardened by one
  anti-adversarial step and a distance loss to class / OoD centres of the
  start model),

(``--forms``' default: the six forms of issue 17, without ``paste``,
``erase_paste`` and ``wood``) at three strengths of the data's confounding
(the generator's context co-occurrence ``--context-probs``, default 0.5 /
0.8 / 0.95: the probability that an image's background is its first
object's class context),
with several training seeds each (``randomness.seed`` of every classifier
stage, the start point included). ``--conta-rounds N`` (default 1) iterates
CONTA as its paper does (classifier -> pseudo-masks -> confounder set ->
classifier): for k = 2..N, after the forms, the CAM files of train_aug and CRF
pseudo-masks of round k-1's CONTA classifier (thresholds from its own seed
sweep; ``work_dirs/conta_trainaug``, ``pseudo_mask_conta`` for round 1,
``conta_round<k>_trainaug``, ``pseudo_mask_conta_round<k>`` after), then
``conta_r18_gen.py`` trained in ``work_dirs/conta_round<k>`` with the hook's
``mask_dir`` on those masks, from the same start point (its ``load_from``) with
round 1's lr, epochs and test scales, and its seed test; a row "CONTA round k"
each. ``--intervention-rounds N`` (default 1) does the same for the
intervention forms (``erase``, ``paste``, ``erase_paste``, ``wood`` among
``--forms``), with the same stages: round k's CRF pseudo-masks
(``work_dirs/pseudo_mask_<form>`` for round 1, ``pseudo_mask_<form>_round<k>``
after) are round k+1's erase masks and paste bank (every ``EraseObjects`` /
``PasteObjects`` ``mask_dir``, trained in ``work_dirs/<form>_round<k>``); rows
"<form> round k". ``--oracle`` (never a default) also trains each intervention
form with the generated ground truth
(``data/gen_voc/VOC2012/SegmentationClassAug``; the paste bank stays
train_aug's) as its masks instead of the start point's CRF masks, in
``work_dirs/<config stem>_oracle``: rows "(oracle)", the intervention's
ceiling. Every form fine-tunes for the same epochs (5, as ``c2am_r18_gen.py``:
75 steps of 16 images on the default data) at the same lr (``--lr``,
``optim_wrapper.optimizer.lr``, head x10 in every config), and is tested with
the same scales (``c2am_r18_gen.py``'s six, ``model.test_cfg.scales``, passed
where a config has others: ``conta_r18_gen`` inherits ``cam_r18_gen``'s four).
The default lr, 5e-3, is 10x the configs' 5e-4: at the configs' lr the
fine-tuning barely moves the weights and the forms changed the seed mIoU by
less than 0.5 (measured before: ``configs/README.md``, issue 10), so that lr
cannot tell them apart; ``--lr config`` keeps each config's own lr (CONTA's
is 0.1).

The table (``<work-dir>/deconfounding.md`` / ``.json``, also printed) has a
row per form and the start point (plain CAM, 15 epochs, tested with its own
four scales), and per strength: the seed mIoU, mean +- sample std over the
seeds (and the mean best threshold); the difference to the control, mean +-
std of the per-seed differences; and the CRF pseudo-mask mIoU
(``crf_gen_cam.py``'s rule: thresholds from the form's own seed
sweep) of the start point and of the best ``--crf-best`` forms of that
strength by mean seed mIoU (oracle rows included; with
``--conta-rounds`` / ``--intervention-rounds`` > 1 also of the rounds whose
masks fed the next round); and the spill (``ContextSpillMetric``, issue 26,
in the seed test itself: each seed test runs a copy of its config,
``<work-dir>/spill_configs/<stem>.py``, with the metric beside SeedMetric):
the share of a class's CAM mass above ``--spill-thr`` (default 0.5, one
threshold for every row) off its objects, and the context spill, the
share on its own generated context (``meta.json``). A metrics file
without them (an earlier run) leaves the columns out.

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

The same for the data interventions (issue 26): set ``F`` to
``cam_r18_gen_ft cam_r18_gen_paste cam_r18_gen_erase_paste`` (and
``cam_r18_gen_erase``), build ``O`` as above and run with
``--forms control paste erase_paste --oracle`` (or
``--intervention-rounds 2``) instead of ``--conta-rounds 2``: 61 s on the
loaded 2-core machine (18 stages of about 3 s), and 50 s more to add
``erase`` and ``--intervention-rounds 2`` in the same work dir.

The table with the issue's rows (3 seeds, 3 strengths; by :data:`EXPECTED`
about 18 min of stage time per (strength, seed), some 1.5 h with
``--jobs 2``, not measured)::

    python benchmarks/bench_deconfounding.py \\
        --work-dir work_dirs/deconfounding --forms control erase paste \\
        erase_paste --oracle --intervention-rounds 2
"""
import argparse
import json
import os
import os.path as osp
import sys
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple

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
# --oracle: the generator's ground truth of every train_aug image (and val's:
# PasteObjects' ann_file keeps the bank to train_aug)
GT_MASKS = f'{DATA}/SegmentationClassAug'
# the generator's record of each image's context (ContextSpillMetric)
META = f'{DATA}/meta.json'

# form: (training config, row label)
FORMS: Dict[str, Tuple[str, str]] = {
    'control': ('cam_r18_gen_ft.py', 'control (plain fine-tuning)'),
    'c2am': ('c2am_r18_gen.py', 'C2AM'),
    'c2am_spatial': ('c2am_r18_gen_spatial.py', 'C2AM spatial'),
    'conta': ('conta_r18_gen.py', 'CONTA'),
    'context': ('c2am_r18_gen_context.py', 'C2AM context'),
    'erase': ('cam_r18_gen_erase.py', 'erase (context-only negatives)'),
    'paste': ('cam_r18_gen_paste.py', 'paste (pasted objects)'),
    'erase_paste': ('cam_r18_gen_erase_paste.py', 'erase + paste'),
    'wood': ('cam_r18_gen_wood.py', 'erase + W-OoD (hardening, distance loss)'),
}
# --forms' default: issue 17's forms
DEFAULT_FORMS = ['control', 'c2am', 'c2am_spatial', 'conta', 'context',
                 'erase']
CONTA = FORMS['conta'][0]
# the forms whose training pipeline reads pseudo-masks (EraseObjects,
# PasteObjects): --oracle's and --intervention-rounds' forms (wood: its
# erase negatives are the OoD images of W-OoD, issue 26 build item 3)
INTERVENTIONS = ('erase', 'paste', 'erase_paste', 'wood')
# the components of a config that read the start point's masks
MASK_READERS = ('ConfounderSetHook', 'EraseObjects', 'PasteObjects')
ORACLE = '_oracle'  # row and work dir suffix of a form on the ground truth
ROUND = '_round'  # ... of a form's round k >= 2: <form>_round<k>

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


@lru_cache(maxsize=None)
def mask_keys(config: str) -> Tuple[str, ...]:
    """The ``--cfg-options`` keys of a config's mask folders: the
    ``mask_dir`` of its ConfounderSetHook (CONTA's confounder set) and of
    the EraseObjects / PasteObjects of its training pipeline, in that
    order."""
    cfg = _load(config)
    keys = [f'custom_hooks.{i}.mask_dir'
            for i, h in enumerate(cfg.get('custom_hooks') or [])
            if h['type'] in MASK_READERS]
    keys += [f'train_dataloader.dataset.pipeline.{i}.mask_dir'
             for i, t in enumerate(cfg.train_dataloader.dataset.pipeline)
             if t['type'] in MASK_READERS]
    return tuple(keys)


def mask_options(config: str, masks: str) -> Tuple[str, ...]:
    """The --cfg-options items that point every mask reader of ``config``
    (:func:`mask_keys`) at the folder ``masks``."""
    return tuple(f'{k}={masks}' for k in mask_keys(config))


def round_name(form: str, k: int) -> str:
    """Row and folder name of a form's round ``k`` (1: the form)."""
    return form if k == 1 else f'{form}{ROUND}{k}'


def round_dir(form: str, k: int) -> str:
    """Work dir of a form's round ``k`` classifier."""
    return work_dir_of(FORMS[form][0]) if k == 1 else \
        f'work_dirs/{round_name(form, k)}'


def conta_name(k: int) -> str:
    """Row and folder name of CONTA's round ``k`` (1: the ``conta`` form)."""
    return round_name('conta', k)


def conta_dir(k: int) -> str:
    """Work dir of CONTA's round ``k`` classifier."""
    return round_dir('conta', k)


def conta_rows(rounds: int) -> List[str]:
    """The rows of CONTA's rounds 2..``rounds``."""
    return [conta_name(k) for k in range(2, rounds + 1)]


def oracle_name(form: str) -> str:
    """Row name of an intervention form trained on the ground truth."""
    return form + ORACLE


def oracle_dir(form: str) -> str:
    """Its work dir: ``work_dirs/<config stem>_oracle``."""
    return work_dir_of(FORMS[form][0]) + ORACLE


def parse_row(row: str) -> Tuple[str, int, bool]:
    """``(form, round, oracle)`` of a row other than ``'start'``."""
    if row.endswith(ORACLE):
        return row[:-len(ORACLE)], 1, True
    form, _, k = row.rpartition(ROUND)
    if form and k.isdigit():
        return form, int(k), False
    return row, 1, False


def row_work_dir(row: str) -> str:
    """Work dir of a row's classifier (its seed test's too)."""
    if row == 'start':
        return work_dir_of(START)
    form, k, oracle = parse_row(row)
    return oracle_dir(form) if oracle else round_dir(form, k)


def row_config(row: str) -> str:
    return START if row == 'start' else FORMS[parse_row(row)[0]][0]


def trained_rows(forms: Sequence[str], oracle: bool = False) -> List[str]:
    """The rows trained in a (strength, seed)'s sequence, round 1: the
    forms and, with ``oracle``, the intervention forms on the ground truth
    (the candidates of the CRF phase)."""
    rows = list(forms)
    if oracle:
        rows += [oracle_name(f) for f in forms if f in INTERVENTIONS]
    return rows


def table_rows(forms: Sequence[str], rounds: int = 1,
               intervention_rounds: int = 1,
               oracle: bool = False) -> List[str]:
    """The table's rows in order: the start point, the forms, CONTA's
    further rounds right after ``conta``, an intervention form's further
    rounds and its oracle row right after it."""
    rows = ['start']
    for f in forms:
        rows.append(f)
        if f == 'conta':
            rows += conta_rows(rounds)
        if f in INTERVENTIONS:
            rows += [round_name(f, k)
                     for k in range(2, intervention_rounds + 1)]
            if oracle:
                rows.append(oracle_name(f))
    return rows


def _mask_dir_option(masks: str) -> str:
    """The --cfg-options item that points CONTA's ConfounderSetHook at
    ``masks``."""
    return mask_options(CONTA, masks)[0]


TestConfig = Optional[Callable[[str], str]]


def _tc(test_config: TestConfig) -> Callable[[str], str]:
    return test_config or (lambda config: config)


def round_stages(seed: int, form: str, k: int, lr: str,
                 test_config: TestConfig = None) -> List[Stage]:
    """A form's round ``k`` >= 2: the CAM files of train_aug and CRF
    pseudo-masks of round ``k - 1``'s classifier (thresholds from its own
    seed sweep; for round 1 the stages of :func:`crf_stages`), then the
    form's training with every mask reader (:func:`mask_keys`: CONTA's
    confounder set, the erase masks, the paste bank) on those masks,
    fine-tuned from the same start point (the config's ``load_from``) with
    round 1's lr, epochs and options, and its seed test (the config
    ``test_config(config)``)."""
    if k < 2:
        raise ValueError(f'{form} round {k}: the rounds after the first are '
                         '2, 3, ...')
    config = FORMS[form][0]
    if not mask_keys(config):
        raise ValueError(f'{form} ({config}) reads no masks: it has no '
                         'rounds')
    rnd = (f'randomness.seed={seed}', )
    test, train, _ = matching(config)
    prev = round_name(form, k - 1)
    work = round_dir(form, k)
    return _crf_stages(seed, config, prev, round_dir(form, k - 1)) + [
        Stage('train', config, work_dir=work,
              opts=rnd + lr_options(lr) + train + mask_options(
                  config, f'work_dirs/pseudo_mask_{prev}/masks')),
        Stage('test', _tc(test_config)(config), work_dir=work, ckpt_of=work,
              opts=rnd + test),
    ]


def conta_round_stages(seed: int, k: int, lr: str,
                       test_config: TestConfig = None) -> List[Stage]:
    """CONTA's round ``k`` >= 2 (:func:`round_stages`): its confounder set
    from round ``k - 1``'s CRF pseudo-masks."""
    return round_stages(seed, 'conta', k, lr, test_config)


def form_stages(seed: int, form: str, lr: str, oracle: bool = False,
                test_config: TestConfig = None) -> List[Stage]:
    """A form's training and seed test; ``oracle``: an intervention form
    with every mask reader on the ground truth (:data:`GT_MASKS`), in
    ``work_dirs/<stem>_oracle``."""
    rnd = (f'randomness.seed={seed}', )
    config = FORMS[form][0]
    test, train, _ = matching(config)
    work = work_dir_of(config)
    if oracle:
        if form not in INTERVENTIONS:
            raise ValueError(f'{form}: the oracle is for the intervention '
                             f'forms {INTERVENTIONS}')
        work = oracle_dir(form)
        train = train + mask_options(config, GT_MASKS)
    return [Stage('train', config, work_dir=work,
                  opts=rnd + lr_options(lr) + train),
            Stage('test', _tc(test_config)(config), work_dir=work,
                  ckpt_of=work, opts=rnd + test)]


def sequence(seed: int, forms: Sequence[str], lr: str,
             conta_rounds: int = 1, intervention_rounds: int = 1,
             oracle: bool = False,
             test_config: TestConfig = None) -> List[Stage]:
    """The stages of one (strength, seed), in order: the start point, the
    forms, with ``oracle`` the intervention forms on the ground truth,
    CONTA's rounds 2..``conta_rounds``, then each intervention form's
    rounds 2..``intervention_rounds``. ``test_config``: the config of
    the seed tests for a form's config (the spill wrapper of
    :meth:`Bench.test_config`); None: the config itself."""
    tc = _tc(test_config)
    rnd = (f'randomness.seed={seed}', )
    start = work_dir_of(START)
    out = [
        Stage('train', START, work_dir=start, opts=rnd),
        Stage('test', tc(START), work_dir=start, ckpt_of=start,
              opts=rnd),  # seeds
        Stage('test', START_TRAINAUG,
              work_dir=work_dir_of(START_TRAINAUG), ckpt_of=start,
              opts=rnd),  # CAM files of train_aug
        # CONTA's confounder set, the erase masks, the paste bank
        Stage('test', CRF, work_dir=work_dir_of(CRF)),
    ]
    for form in forms:
        out += form_stages(seed, form, lr, test_config=test_config)
    if oracle:
        for form in forms:
            if form in INTERVENTIONS:
                out += form_stages(seed, form, lr, True, test_config)
    if conta_rounds > 1 and 'conta' not in forms:
        raise ValueError('--conta-rounds > 1 needs the conta form (round 1)')
    for k in range(2, conta_rounds + 1):
        out += conta_round_stages(seed, k, lr, test_config)
    rounds_of = [f for f in forms if f in INTERVENTIONS]
    if intervention_rounds > 1 and not rounds_of:
        raise ValueError('--intervention-rounds > 1 needs an intervention '
                         f'form {INTERVENTIONS} (round 1)')
    for form in rounds_of:
        for k in range(2, intervention_rounds + 1):
            out += round_stages(seed, form, k, lr, test_config)
    return out


def crf_stages(seed: int, row: str) -> List[Stage]:
    """CAM files of train_aug and CRF pseudo-masks of a form's (or a row's
    of :func:`trained_rows`: an oracle form's) classifier, with thresholds
    from its own seed sweep."""
    return _crf_stages(seed, row_config(row), row, row_work_dir(row))


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


def spill_config_text(config: str, thr: float) -> str:
    """A config that is ``config`` with ContextSpillMetric (threshold
    ``thr``, the context from the generator's ``meta.json``) beside its
    test metrics: one test pass gives the seed mIoU and the spill."""
    base = _load(config).test_evaluator
    metrics = [m.to_dict() if hasattr(m, 'to_dict') else dict(m)
               for m in (base if isinstance(base, list) else [base])]
    metrics.append(dict(type='ContextSpillMetric', thr=float(thr),
                        meta_file=META))
    return ('# written by benchmarks/bench_deconfounding.py: '
            f'{config_stem(config)} with the context spill\n'
            f'_base_ = [{find_config(config)!r}]\n\n'
            f'test_evaluator = {metrics!r}\n')


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
    # not measured: the control's plus the transforms' share
    ('train', 'cam_r18_gen_paste'): 50,
    ('train', 'cam_r18_gen_erase_paste'): 55,
    # erase's, the centres' pass and the OoD images' second forward
    ('train', 'cam_r18_gen_wood'): 65,
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

    def test_config(self, config: str) -> str:
        """The seed tests' config of ``config``: a file
        ``<work-dir>/spill_configs/<stem>.py`` (:func:`spill_config_text`),
        of the same stem, so that its marker, its work dir and the
        ``--cfg-options`` of the stem stay those of ``config``."""
        folder = osp.join(self.work, 'spill_configs')
        os.makedirs(folder, exist_ok=True)
        path = osp.join(folder, f'{config_stem(config)}.py')
        text = spill_config_text(config, self.args.spill_thr)
        if not osp.isfile(path) or open(path).read() != text:
            with atomic_open(path, 'w') as f:
                f.write(text)
        return path

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
        candidates = trained_rows(a.forms, a.oracle)
        n_crf = min(a.crf_best, len(candidates)) * len(a.seeds)
        crf_plan = crf_stages(0, a.forms[0])
        for prob in a.context_probs:
            last = [self.add_chain(
                (prob, s), sequence(s, a.forms, a.lr, a.conta_rounds,
                                    a.intervention_rounds, a.oracle,
                                    self.test_config),
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
        a = self.args
        return seed_values(self.work, prob, a.seeds, a.forms, a.conta_rounds,
                           a.intervention_rounds, a.oracle)

    def best_forms(self, prob: float) -> List[str]:
        return best_forms(self.seed_values(prob),
                          trained_rows(self.args.forms, self.args.oracle),
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
                intervention_rounds=a.intervention_rounds, oracle=a.oracle,
                spill_thr=a.spill_thr, crf_best=a.crf_best,
                data={k: v for k, v in generator_options(self.args, 0).items()
                      if k != 'context_prob'},
                cfg_options=a.cfg_options,
                test_scales=list(_scales(REFERENCE)),
                fine_tuning_epochs=_epochs(REFERENCE), overrides=notes),
            strengths={})
        for prob in a.context_probs:
            values = self.seed_values(prob)
            crf = best_forms(values, trained_rows(a.forms, a.oracle),
                             a.crf_best)
            out['strengths'][f'{prob:g}'] = summarise(
                values, a.forms, crf, a.conta_rounds, a.intervention_rounds,
                a.oracle)
        return out


def row_dirs(row: str) -> Tuple[str, str]:
    """The folders under ``work_dirs`` of a row's seed test and CRF masks."""
    if row == 'start':
        return config_stem(START), config_stem(CRF)
    return osp.basename(row_work_dir(row)), f'pseudo_mask_{row}'


def seed_values(work: str, prob: float, seeds: Sequence[int],
                forms: Sequence[str], conta_rounds: int = 1,
                intervention_rounds: int = 1,
                oracle: bool = False) -> Dict[str, Dict[int, dict]]:
    """Per row (:func:`table_rows`) and seed: ``seed_miou``,
    ``best_threshold`` and ``crf_miou`` (None where missing), and
    ``spill`` / ``context_spill`` where the seed test measured them, from
    the test work dirs' ``test_metrics.json``."""
    rows = {}
    for row in table_rows(forms, conta_rounds, intervention_rounds, oracle):
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
            for key in ('spill', 'context_spill'):
                value = pick_metric(seeds_m, key)
                if value is not None:
                    rows[row][s][key] = value
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
              crf_forms: Sequence[str], conta_rounds: int = 1,
              intervention_rounds: int = 1, oracle: bool = False) -> dict:
    """Per row: the per-seed values, the seed mIoU, best threshold, spill,
    context spill and (start, ``crf_forms`` and, with ``conta_rounds`` /
    ``intervention_rounds`` > 1, CONTA's / the intervention forms' rounds:
    their masks are the next round's input) CRF mIoU over the seeds, and
    the per-seed difference to the control's seed mIoU over the seeds."""
    control = values.get('control')
    out = dict(crf_forms=list(crf_forms), rows={})
    with_crf = {'start', *crf_forms}
    if conta_rounds > 1:
        with_crf |= {'conta', *conta_rows(conta_rounds)}
    if intervention_rounds > 1:
        with_crf |= {round_name(f, k) for f in forms if f in INTERVENTIONS
                     for k in range(1, intervention_rounds + 1)}
    for row in table_rows(forms, conta_rounds, intervention_rounds, oracle):
        per = values[row]
        r = dict(per_seed={str(s): v for s, v in per.items()})
        r['seed_miou'] = mean_std([v['seed_miou'] for v in per.values()])
        r['best_threshold'] = mean_std(
            [v['best_threshold'] for v in per.values()])
        for key in ('spill', 'context_spill'):
            r[key] = mean_std([v.get(key) for v in per.values()])
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


def row_label(row: str) -> str:
    """A row's label in the table: the form's, ``'<form> round k'``,
    ``'<form label> (oracle)'``."""
    if row == 'start':
        return start_label()
    form, k, oracle = parse_row(row)
    label = FORMS[form][1]
    short = label.split(' (')[0]  # 'erase', 'CONTA', 'erase + paste'
    if oracle:
        return f'{short} (oracle)'
    return f'{short} round {k}' if k > 1 else label


def table(result: dict) -> str:
    """The markdown table of :meth:`Bench.results`' output."""
    s = result['settings']
    probs = list(result['strengths'])
    n_seeds = len(s['seeds'])
    rounds = s.get('conta_rounds', 1)
    i_rounds = s.get('intervention_rounds', 1)
    oracle = s.get('oracle', False)
    rows = table_rows(s['forms'], rounds, i_rounds, oracle)
    # the spill columns where a seed test measured the spill
    measured = {key: any(r.get(key) is not None
                         for st in result['strengths'].values()
                         for r in st['rows'].values())
                for key in ('spill', 'context_spill')}
    head = ['form']
    for p in probs:
        head.append(f'p={p}: seed mIoU (t*)')
        if measured['spill']:
            head.append(f'p={p}: spill')
        if measured['context_spill']:
            head.append(f'p={p}: context spill')
        head += [f'p={p}: vs control', f'p={p}: CRF mIoU']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for row in rows:
        cells = [row_label(row)]
        for p in probs:
            r = result['strengths'][p]['rows'][row]
            seed = fmt_mean_std(r['seed_miou'])
            if r['seed_miou'] is not None:
                if r['seed_miou']['n'] < n_seeds:
                    seed += f' [{r["seed_miou"]["n"]} seeds]'
                if r['best_threshold'] is not None:
                    seed += f' ({r["best_threshold"]["mean"]:.2f})'
            cells.append(seed)
            for key in ('spill', 'context_spill'):
                if measured[key]:
                    cells.append(fmt_mean_std(r.get(key)))
            cells += ['-' if row == 'control' else
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
    if measured['spill']:
        thr = s.get('spill_thr')
        lines.append(
            'Spill (ContextSpillMetric, train split, percent): the share of '
            'a class\'s CAM mass above '
            + ('a fixed threshold' if thr is None else f'{thr:g}') +
            ' (the same for every row) that lies off its objects'
            + ('; context spill: the share on its own generated context '
               '(the background of the images whose context is the class, '
               'meta.json)' if measured['context_spill'] else '') +
            '; mean over classes, lower is better.')
    if rounds > 1:
        lines.append(
            f'CONTA round k (2..{rounds}): {config_stem(CONTA)} fine-tuned '
            'from the same start point, its confounder set from the CRF '
            'pseudo-masks of round k-1\'s classifier (thresholds from that '
            'classifier\'s seeds); CRF mIoU of a CONTA round: its masks, '
            'the next round\'s input.')
    if i_rounds > 1:
        lines.append(
            f'<form> round k (2..{i_rounds}): the intervention form '
            'fine-tuned from the same start point, its erase masks and '
            'paste bank from the CRF pseudo-masks of round k-1\'s '
            'classifier (thresholds from that classifier\'s seeds); its '
            'CRF mIoU: those masks, the next round\'s input.')
    if oracle:
        lines.append(
            '(oracle): the intervention form with the generated ground '
            f'truth ({GT_MASKS}) as its erase masks and paste bank instead '
            'of the start point\'s CRF pseudo-masks: the ceiling of the '
            'intervention, not a result.')
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
    p.add_argument('--forms', nargs='+', default=list(DEFAULT_FORMS),
                   choices=list(FORMS),
                   help='default: issue 17\'s ' + ' '.join(DEFAULT_FORMS))
    p.add_argument('--conta-rounds', type=int, default=1,
                   help='CONTA\'s rounds (classifier -> CRF pseudo-masks -> '
                   'confounder set -> classifier); rounds 2..N run after the '
                   'forms, each from the start point')
    p.add_argument('--intervention-rounds', type=int, default=1,
                   help='rounds of the intervention forms '
                   f'({", ".join(INTERVENTIONS)}): round k\'s CRF '
                   'pseudo-masks are round k+1\'s erase masks and paste bank; '
                   'rounds 2..N run after the forms, each from the start '
                   'point')
    p.add_argument('--oracle', action='store_true',
                   help='also train the intervention forms with the '
                   f'generated ground truth ({GT_MASKS}) as their masks: '
                   'rows "(oracle)", the ceiling of each intervention')
    p.add_argument('--spill-thr', type=float, default=0.5,
                   help='CAM threshold of the spill columns '
                   '(ContextSpillMetric\'s thr), the same for every row '
                   '(default 0.5: near this data\'s t*, the fixed threshold '
                   'of tools/run_pipeline.py --fixed-thr)')
    p.add_argument('--crf-best', type=int, default=2,
                   help='CRF pseudo-masks of the best N forms per strength '
                   '(oracle rows included)')
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
    if args.intervention_rounds < 1:
        p.error('--intervention-rounds must be at least 1')
    has_intervention = any(f in INTERVENTIONS for f in args.forms)
    if args.intervention_rounds > 1 and not has_intervention:
        p.error('--intervention-rounds > 1 needs an intervention form '
                f'({", ".join(INTERVENTIONS)}) in --forms (its first round)')
    if args.oracle and not has_intervention:
        p.error('--oracle needs an intervention form '
                f'({", ".join(INTERVENTIONS)}) in --forms')
    if not 0.0 <= args.spill_thr < 1.0:
        p.error(f'--spill-thr must be in [0, 1), got {args.spill_thr}')
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
