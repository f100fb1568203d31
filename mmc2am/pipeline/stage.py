"""One stage of a pipeline: a run of ``tools/train.py`` or ``tools/test.py``
on a config, as the README's stage-by-stage commands run it."""
import os.path as osp
from typing import List, NamedTuple, Optional, Tuple

#: What the stages of a method make, in the order they make them
#: (``tools/run_pipeline.py --until`` stops after one).
KINDS = ('classifier', 'seeds', 'cams', 'masks', 'segmenter')


class Stage(NamedTuple):
    """``tools/<tool>.py <config> [last checkpoint of ckpt_of] --work-dir
    <work_dir> [--cfg-options <opts>]``, run with a work folder as the
    current folder (the configs' relative paths chain through it).

    ``after`` and ``kind`` are for the drivers that build a method's stages
    (:class:`~mmc2am.pipeline.Methods`); the engine takes its dependencies
    per job (:meth:`~mmc2am.pipeline.Engine.add`).
    """
    tool: str  # 'train' or 'test'
    config: str  # a name for mmc2am.utils.find_config, or a path
    ckpt_of: Optional[str] = None  # work dir whose last checkpoint to test
    work_dir: Optional[str] = None  # None: work_dirs/<config stem>
    # --cfg-options: folders, the training seed; never a method's setting
    opts: Tuple[str, ...] = ()
    # the stages of the same method whose outputs this one reads (indices
    # into the method's list of stages)
    after: Tuple[int, ...] = ()
    kind: Optional[str] = None  # what it makes, one of KINDS
    # a training that starts from the last checkpoint of this work dir
    # (``load_from=<it>`` after ``opts``): read when the stage starts
    load_of: Optional[str] = None

    @property
    def stem(self) -> str:
        """The config's file name without ``.py``."""
        return config_stem(self.config)

    @property
    def work(self) -> str:
        """The work dir, relative to the work folder."""
        return self.work_dir or work_dir_of(self.config)

    @property
    def name(self) -> str:
        """``'<tool> <config stem>'``, with ``' -> <work dir>'`` when the
        work dir is not the config's (one config in several folders); the
        work dir is named below ``work_dirs`` (``seg_cam_crf/no_crf``)."""
        name = f'{self.tool} {self.stem}'
        work = osp.normpath(self.work)
        folder = osp.relpath(work, 'work_dirs') if work.startswith(
            'work_dirs' + osp.sep) else osp.basename(work)
        return name if folder == self.stem else f'{name} -> {folder}'

    @property
    def marker(self) -> str:
        """The file, relative to the work folder, whose existence says the
        stage has finished (written by the engine when it exits with 0)."""
        return osp.join(self.work, f'.done_{self.tool}_{self.stem}')


def config_stem(config: str) -> str:
    """``'configs/cam/cam_r18_gen.py'`` -> ``'cam_r18_gen'``."""
    return osp.splitext(osp.basename(config))[0]


def work_dir_of(config: str) -> str:
    """The default work dir of a config (tools/train.py, tools/test.py)."""
    return osp.join('work_dirs', config_stem(config))


def until(stages: List[Stage], kind: str) -> List[Stage]:
    """The stages up to those that make ``kind`` (:data:`KINDS`; a prefix
    of a method's stages, so their ``after`` indices stay valid)."""
    last = KINDS.index(kind)
    return [st for st in stages if KINDS.index(st.kind) <= last]
