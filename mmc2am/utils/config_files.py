"""Finding the project's config files by name.

The configs live in mmseg's layout, one folder per algorithm
(``configs/<algorithm>/<algo>_<backbone>_<data>[_variant].py``), and every
file name is unique across the folders, so a name alone (``'cam_r18_gen'``,
``'crf_gen_c2am.py'``) or a path relative to ``configs/``
(``'c2am/voc_r50.py'``) identifies a config, as ``mim``'s config names do.
"""
import difflib
import glob
import os.path as osp
from typing import Dict, List

#: ``configs/`` of the source tree this package is imported from.
CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'configs')


#: Folders of ``configs/`` that hold no runnable config: the shared
#: fragments and the pipeline configs of ``tools/run_pipeline.py``
#: (``mmc2am.pipeline``), which list stages, not a model.
NOT_CONFIGS = ('_base_', 'pipelines')


def list_configs(root: str = CONFIG_ROOT) -> Dict[str, str]:
    """Every config of ``root`` except those of :data:`NOT_CONFIGS` (the
    ``_base_`` fragments, the pipeline configs): file stem -> path. Raises
    ``ValueError`` naming both files if a stem repeats."""
    found: Dict[str, str] = {}
    for path in sorted(glob.glob(osp.join(root, '*', '*.py'))):
        if osp.basename(osp.dirname(path)) in NOT_CONFIGS:
            continue
        stem = osp.splitext(osp.basename(path))[0]
        if stem in found:
            raise ValueError(f'config name {stem!r} is used twice: '
                             f'{found[stem]} and {path}')
        found[stem] = path
    return found


def find_config(name: str, root: str = CONFIG_ROOT) -> str:
    """The path of the config ``name``: an existing path, a path relative to
    ``root`` (``'c2am/voc_r50.py'``) or a file name with or without ``.py``.

    Raises:
        FileNotFoundError: no such config; the message lists close names.
    """
    if osp.isfile(name):
        return osp.abspath(name)
    rel = name if name.endswith('.py') else name + '.py'
    if osp.isfile(osp.join(root, rel)):
        return osp.join(root, rel)
    known = list_configs(root)
    stem = osp.splitext(osp.basename(name))[0]
    if stem in known:
        return known[stem]
    close: List[str] = difflib.get_close_matches(stem, list(known), n=5)
    raise FileNotFoundError(
        f'no config {name!r} under {root}' +
        (f'; close names: {", ".join(close)}' if close else ''))
