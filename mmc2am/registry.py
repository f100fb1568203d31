"""mmc2am's registry nodes, on mmyolo's pattern (``mmyolo/registry.py``).

Each registry is a child of the root registry of the same kind in mmengine,
with scope ``'mmc2am'`` (inferred from this module's package) and
``locations`` naming the modules that register into it, imported on the
first lookup. Every mmc2am component registers here, so:

- a config with ``default_scope = 'mmc2am'`` (the stage configs under
  ``configs/``) finds mmc2am's components by their plain names and
  mmengine's by the parent lookup; what comes from mmpretrain or mmseg is
  named with its scope prefix (``'mmpretrain.ResNet'``,
  ``'mmseg.PackSegInputs'``);
- a config of another scope (a stock mmseg or mmpretrain config) names
  mmc2am's components with the ``mmc2am.`` prefix
  (``type='mmc2am.PseudoMaskDataset'``), after
  ``custom_imports = dict(imports=['mmc2am'])``.

Under a default scope every unprefixed name of a nested build resolves in
that scope's registry and then the root: the configs and the components'
defaults prefix what lives in mmpretrain / mmseg (a loss, a data
preprocessor, a transform) so that it resolves to the same class from any
scope.

More on registries and scopes:
https://mmengine.readthedocs.io/en/latest/advanced_tutorials/registry.html
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import (
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
)
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'FUNCTIONS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR',
    'TASK_UTILS', 'VISUALIZERS', 'VISBACKENDS', 'INFERENCERS'
]

# Kinds mmc2am has no component of still get a node: under
# default_scope='mmc2am' mmengine looks each kind up through the scope's
# node and, without one, warns and falls back to the registry it was given.

# runners, runner constructors and loops (the stock ones, from the root)
RUNNERS = Registry(
    'runner', parent=MMENGINE_RUNNERS, locations=['mmc2am.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMENGINE_RUNNER_CONSTRUCTORS,
    locations=['mmc2am.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['mmc2am.engine'])
# GlobalCAMHook, ConfounderSetHook, CAMFileHook, EpochSeedHook, ...
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    locations=['mmc2am.engine.hooks', 'mmc2am.visualization'])
LOG_PROCESSORS = Registry(
    'log_processor',
    parent=MMENGINE_LOG_PROCESSORS,
    locations=['mmc2am.engine'])

# data: VOCImageLevelDataset, CAMFileDataset, PseudoMaskDataset, ...
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, locations=['mmc2am.datasets'])
# TotalBatchSampler
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMENGINE_DATA_SAMPLERS,
    locations=['mmc2am.datasets.samplers'])
# IRNRandomCrop, EraseObjects, LoadCAMFile, PackCAMInputs, ...
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    locations=['mmc2am.datasets.transforms'])
# collate functions
FUNCTIONS = Registry(
    'function', parent=MMENGINE_FUNCTIONS, locations=['mmc2am.datasets'])

# CAMClassifier, the CAM heads, CAMDataPreprocessor, IRNet, ...
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, locations=['mmc2am.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMENGINE_MODEL_WRAPPERS,
    locations=['mmc2am.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMENGINE_WEIGHT_INITIALIZERS,
    locations=['mmc2am.models'])

OPTIMIZERS = Registry(
    'optimizer',
    parent=MMENGINE_OPTIMIZERS,
    locations=['mmc2am.engine.optimizers'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    locations=['mmc2am.engine.optimizers'])
# CompactOptimWrapperConstructor
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmc2am.engine.optimizers'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    locations=['mmc2am.engine.optimizers'])

# SeedMetric, PseudoMaskMetric
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, locations=['mmc2am.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMENGINE_EVALUATOR, locations=['mmc2am.evaluation'])

TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, locations=['mmc2am.models'])

# CAMVisualizer
VISUALIZERS = Registry(
    'visualizer',
    parent=MMENGINE_VISUALIZERS,
    locations=['mmc2am.visualization'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=MMENGINE_VISBACKENDS,
    locations=['mmc2am.visualization'])

INFERENCERS = Registry(
    'inferencer', parent=MMENGINE_INFERENCERS, locations=['mmc2am.apis'])
