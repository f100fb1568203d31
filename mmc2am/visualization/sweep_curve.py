"""mIoU-vs-threshold curves of the metrics' sweeps: JSON, PNG, Visualizer.

:class:`mmc2am.evaluation.SeedMetric` (seed background threshold) and
:class:`mmc2am.evaluation.PseudoMaskMetric` (the random walk's background
score) compute a whole curve in one pass; :func:`save_curve` writes it as
``<name>.json`` and ``<name>.png`` and hands the picture to the current
``Visualizer``'s backends (e.g. TensorBoard), so the metrics themselves hold
no plotting code.
"""
import io
import json
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.logging import MMLogger, print_log

from mmc2am.utils.io import atomic_open


def render_curve(curve: dict, xlabel: str = 'background threshold',
                 ylabel: str = 'seed mIoU (%)') -> bytes:
    """PNG bytes of an mIoU-vs-threshold plot.

    Args:
        curve (dict): ``thresholds`` (T,), ``mIoU`` (T, None for NaN),
            ``best_threshold`` and ``best_mIoU``.
        xlabel (str): x-axis label.
        ylabel (str): y-axis label.
    """
    # A bare Figure (no pyplot) renders with Agg whatever the backend, and
    # leaves no global figure state behind.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    miou = [np.nan if m is None else m for m in curve['mIoU']]
    ax.plot(curve['thresholds'], miou, color='tab:blue')
    ax.axvline(curve['best_threshold'], color='tab:red', ls='--', lw=1)
    ax.annotate(
        f"best {curve['best_mIoU']:.2f} @ {curve['best_threshold']:.2f}",
        (curve['best_threshold'], curve['best_mIoU']),
        textcoords='offset points', xytext=(6, -14), color='tab:red')
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    return buf.getvalue()


def log_dir() -> Optional[str]:
    """The folder of the current runner's log file (``work_dir/<time>``)."""
    log_file = getattr(MMLogger.get_current_instance(), 'log_file', None)
    return osp.dirname(osp.abspath(log_file)) if log_file else None


def save_curve(curve: dict, name: str, out_dir: Optional[str] = None,
               **labels) -> None:
    """Write ``curve`` as ``<name>.json`` / ``<name>.png`` and send the
    picture to the current Visualizer's backends.

    Args:
        curve (dict): See :func:`render_curve`; the JSON holds all of it.
        name (str): File stem and Visualizer image name.
        out_dir (str, optional): Folder; defaults to :func:`log_dir`.
        **labels: ``xlabel`` / ``ylabel`` of :func:`render_curve`.
    """
    logger = MMLogger.get_current_instance()
    out_dir = out_dir or log_dir()
    png = render_curve(curve, **labels)
    if out_dir is None:
        print_log(f'no output folder and no log file: {name} is not '
                  'written', logger)
    else:
        json_path = osp.join(out_dir, f'{name}.json')
        with atomic_open(json_path, 'w') as f:
            json.dump(curve, f, indent=1)
        with atomic_open(osp.join(out_dir, f'{name}.png'), 'wb') as f:
            f.write(png)
        print_log(f'curve written to {json_path} and {name}.png', logger)
    try:
        from mmengine.visualization import Visualizer
        vis = Visualizer.get_current_instance()
    except RuntimeError:  # no visualizer in this process
        return
    if vis._vis_backends:
        import mmcv
        vis.add_image(name, mmcv.imfrombytes(png, channel_order='rgb'))


__all__ = ['log_dir', 'render_curve', 'save_curve']
