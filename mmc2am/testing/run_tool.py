"""Run one of ``tools/*.py`` inside the calling process (tests)."""
import os.path as osp
import runpy
import sys
from typing import Sequence

from mmengine.registry import DefaultScope
from mmengine.visualization import Visualizer

#: ``tools/`` of the source tree this package is imported from.
TOOLS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                 'tools')


def run_tool(tool: str, args: Sequence[str]) -> None:
    """Run ``tools/<tool>`` (e.g. ``'test.py'``) with ``args`` as its
    command line in this process, so its exceptions reach the caller.

    The tool's runner registers a default scope and a visualizer as global
    instances; they are removed afterwards, so the next tool in the same
    process builds its own."""
    path = tool if osp.isabs(tool) else osp.join(TOOLS, tool)
    saved = {c: dict(c._instance_dict) for c in (DefaultScope, Visualizer)}
    argv = sys.argv
    try:
        sys.argv = [path, *args]
        runpy.run_path(path, run_name='__main__')
    finally:
        sys.argv = argv
        for c, inst in saved.items():
            c._instance_dict.clear()
            c._instance_dict.update(inst)
