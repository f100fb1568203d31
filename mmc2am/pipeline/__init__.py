"""The stage engine that every driver uses (``tools/run_pipeline.py``,
``benchmarks/bench_deconfounding.py``, ``tools/compare_recipes.py``): a
stage is a tool, a config and the work dir whose checkpoint it takes
(:class:`Stage`); :class:`Engine` runs stages side by side, skipping those
done and resuming killed trainings; :class:`Methods` turns a pipeline
config's method entries (``configs/pipelines/``) into stages;
:mod:`.results` reads back and tabulates what they measured."""
from .data import (
                   add_generator_arguments,
                   generate_command,
                   generator_options,
                   image_sizes,
                   link_data,
                   prepare_generated,
)
from .engine import (
                   ROOT,
                   EndedRun,
                   Engine,
                   Failure,
                   StageRun,
                   add_cfg_options_argument,
                   check_cfg_options,
                   clock,
)
from .methods import (
                   FIELDS,
                   NO_CRF,
                   SMOKE_FIELDS,
                   Methods,
                   has_test_crf,
                   pipeline_file,
                   presets,
)
from .results import (
                   COLUMNS,
                   fmt,
                   fmt_mean_std,
                   mean_std,
                   method_rows,
                   methods_table,
                   read_metrics,
                   runs_mean_std,
)
from .stage import KINDS, Stage, config_stem, until, work_dir_of

__all__ = [
    'add_cfg_options_argument', 'add_generator_arguments',
    'check_cfg_options', 'clock', 'COLUMNS', 'config_stem', 'EndedRun',
    'Engine',
    'Failure', 'FIELDS', 'fmt', 'fmt_mean_std', 'generate_command',
    'generator_options', 'image_sizes', 'KINDS', 'link_data', 'mean_std', 'method_rows',
    'Methods', 'methods_table', 'NO_CRF', 'has_test_crf', 'pipeline_file',
    'prepare_generated',
    'presets', 'read_metrics', 'ROOT', 'runs_mean_std', 'SMOKE_FIELDS',
    'Stage', 'StageRun',
    'until', 'work_dir_of'
]
