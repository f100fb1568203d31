"""The drivers' results: metrics read back from the test stages' work dirs,
mean +- sample std over training seeds, and the markdown tables."""
import json
import os.path as osp
import statistics
from typing import Dict, List, Optional, Sequence

from ..utils.io import latest_seed_sweep, pick_metric, seed_miou_at
from .methods import NO_CRF, Methods
from .stage import work_dir_of

#: The columns of the methods table (:func:`methods_table`) and their
#: digits, in order; ``seed_fixed_miou`` only with a fixed threshold.
COLUMNS = (('seed_miou', 1), ('seed_fixed_miou', 1), ('seed_threshold', 2),
           ('pseudo_crf_miou', 1), ('pseudo_irn_miou', 1),
           ('seg_val_miou', 1), ('seg_val_miou_no_crf', 1))


def read_metrics(path: str) -> Optional[dict]:
    """The ``test_metrics.json`` that ``tools/test.py`` wrote (None if the
    stage has not)."""
    if not osp.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def mean_std(values: Sequence[Optional[float]]) -> Optional[dict]:
    """``dict(mean, std, n)`` of the values that are not None (``std``: the
    sample std, None for one value); None when there are none."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    return dict(mean=statistics.mean(v),
                std=statistics.stdev(v) if len(v) > 1 else None, n=len(v))


def fmt(value: Optional[float], digits: int = 1) -> str:
    """A cell: ``'-'`` for no value."""
    return '-' if value is None else f'{value:.{digits}f}'


def fmt_mean_std(m: Optional[dict], digits: int = 1,
                 sign: bool = False) -> str:
    """A :func:`mean_std` cell: ``'mean +- std'`` (``'mean'`` without a
    std, ``'-'`` without a value); ``sign``: the mean with its sign."""
    if m is None:
        return '-'
    text = f'{m["mean"]:{"+" if sign else ""}.{digits}f}'
    if m['std'] is not None:
        text += f' +- {m["std"]:.{digits}f}'
    return text


def method_rows(folder: str, methods: Methods, keys: Sequence[str],
                refine: str,
                fixed_thr: Optional[float] = None) -> Dict[str, dict]:
    """Per method of ``keys``, what its stages in the work folder
    ``folder`` measured (None where a stage has not run): the seed mIoU and
    best background threshold (its seed test), the CRF and IRN pseudo-mask
    mIoU, the segmenter's val mIoU (on ``refine``'s masks) and, with
    ``fixed_thr``, the seed mIoU at that threshold (the newest sweep)."""
    rows = {}
    for method in keys:
        def metric(config, key, work=None):
            return pick_metric(read_metrics(osp.join(
                folder, work or work_dir_of(config), 'test_metrics.json')),
                key)

        cls = methods.config(method, 'classifier')
        rows[method] = dict(
            seed_miou=metric(cls, 'mIoU'),
            seed_threshold=metric(cls, 'best_threshold'),
            pseudo_crf_miou=metric(methods.config(method, 'crf'), 'mIoU'),
            pseudo_irn_miou=metric(methods.config(method, 'irn'), 'mIoU'),
            seg_val_miou=metric(methods.segmenter, 'mIoU',
                                methods.segmenter_dir(method, refine)))
        if methods.segmenter_crf:
            rows[method]['seg_val_miou_no_crf'] = metric(
                methods.segmenter, 'mIoU',
                osp.join(methods.segmenter_dir(method, refine), NO_CRF))
        if fixed_thr is not None:
            sweep = latest_seed_sweep(osp.join(folder, work_dir_of(cls)))
            rows[method]['seed_fixed_miou'] = None if sweep is None \
                else seed_miou_at(sweep, fixed_thr)
    return rows


def methods_table(rows: Dict[str, dict], names: Dict[str, str],
                  refine: str, runs: int = 1,
                  fixed_thr: Optional[float] = None) -> str:
    """The results table of :func:`method_rows`; ``runs`` > 1: cells are
    ``[mean, std]`` pairs (:func:`runs_mean_std`); ``fixed_thr``: with the
    column of the seed mIoU at that threshold; ``names``: method -> row
    label."""
    heads = dict(
        seed_miou='seed mIoU (train)',
        seed_fixed_miou=f'seed mIoU at t = {fixed_thr:.2f} (train)'
        if fixed_thr is not None else None,
        seed_threshold='best bg threshold',
        pseudo_crf_miou='pseudo-mask mIoU, CRF (train)',
        pseudo_irn_miou='pseudo-mask mIoU, IRN (train)',
        seg_val_miou=f'segmenter mIoU (val), {refine.upper()} masks',
        seg_val_miou_no_crf='segmenter without test CRF' if any(
            'seg_val_miou_no_crf' in r for r in rows.values()) else None)
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
                cells.append(fmt(mean, digits) if mean is None else
                             f'{fmt(mean, digits)} +- {fmt(std, digits)}')
            else:
                cells.append(fmt(value, digits))
        lines.append(f'| {names[method]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def runs_mean_std(runs: List[Dict[str, dict]]) -> Dict[str, dict]:
    """Per method and column of :func:`method_rows` ``[mean, sample std]``
    over the runs (None where a run has no value; columns no run has are
    left out)."""
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
