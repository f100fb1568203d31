"""Where mmc2am's components live (mmc2am's own registry nodes,
``mmc2am/registry.py``) and how configs of each scope reach them."""
import inspect
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import (
    DATASETS,
    METRICS,
    MODELS,
    TRANSFORMS,
    WEIGHT_INITIALIZERS,
    DefaultScope,
    Registry,
)
from mmengine.utils import import_modules_from_strings

import mmc2am  # noqa: F401  (registers the components)
from mmc2am import registry as mmc2am_registry
from mmc2am.utils import find_config, list_configs

# Where each component lives (README, "Using the components in your own
# configs"): every one in mmc2am's registries; other configs name it with the
# ``mmc2am.`` prefix.
PLACES = {
    'MODELS': [
        'CAMClassifier', 'CAMDataPreprocessor', 'BaseCAMHead',
        'CausalCAMHead', 'ReCAMHead', 'CONTAHead', 'SEAMHead',
        'CONTASEAMHead', 'RCAHead', 'SEAMClassifier',
        'PixelCorrelationModule', 'WOoDClassifier', 'WOoDDistanceLoss',
        'MultiScaleCAM', 'AdvCAM', 'SEAMCAM', 'IRNet', 'BgFgBalancedCELoss',
        'CRFConfidentLabels', 'CRFEncoderDecoder', 'MSCEncoderDecoder',
        'ASPPV2Head'
    ],
    'DATASETS': [
        'VOCImageLevelDataset', 'CAMFileDataset', 'PseudoMaskDataset',
        'IRNAffinityDataset'
    ],
    'TRANSFORMS': [
        'IRNRandomCrop', 'IRNRandomRescale', 'EraseObjects', 'PasteObjects',
        'SEAMColorJitter', 'LoadCAMFile', 'LoadOptionalAnnotations',
        'PackCAMInputs'
    ],
    'DATA_SAMPLERS': ['TotalBatchSampler'],
    'HOOKS': [
        'GlobalCAMHook', 'ConfounderSetHook', 'RCAMemoryHook',
        'WOoDCentresHook', 'CAMFileHook', 'MaskFileHook', 'EpochSeedHook',
        'CAMVisualizationHook'
    ],
    'METRICS': ['SeedMetric', 'PseudoMaskMetric', 'ContextSpillMetric'],
    'OPTIM_WRAPPER_CONSTRUCTORS': ['CompactOptimWrapperConstructor'],
    'VISUALIZERS': ['CAMVisualizer'],
}


def _registry_tree():
    """Every registry node: mmengine's roots and all their descendants."""
    import mmengine.registry as root
    todo = [v for v in vars(root).values() if isinstance(v, Registry)]
    seen = {}
    while todo:
        reg = todo.pop()
        if id(reg) not in seen:
            seen[id(reg)] = reg
            todo.extend(reg.children.values())
    return list(seen.values())


def _cfg(scope: str, **kwargs) -> Config:
    return Config(dict(
        default_scope=scope,
        custom_imports=dict(imports=['mmc2am'], allow_failed_imports=False),
        **kwargs))


def _build(registry, cfg: Config, key: str):
    # What the runner does: import custom modules, then build from the
    # root registry under the config's default scope.
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return registry.build(cfg[key])


def test_components_live_in_mmc2am_registries():
    for kind, names in PLACES.items():
        reg = getattr(mmc2am_registry, kind)
        assert reg.scope == 'mmc2am'
        assert reg.parent is getattr(__import__('mmengine.registry',
                                                fromlist=[kind]), kind)
        for name in names:
            cls = reg.module_dict.get(name)
            assert cls is not None, f'{name} is not in mmc2am {kind}'
            assert cls.__module__.startswith('mmc2am.')


def test_every_component_is_listed_here_and_in_the_readme():
    """PLACES and the README's table of registered components name every
    class registered in mmc2am's registries, in the README's row of its
    registry (a new component that nobody listed fails here)."""
    with open(osp.join(osp.dirname(__file__), '..', 'README.md')) as f:
        rows = {line.split('|')[1].strip(' `'): line
                for line in f if line.startswith('| `')}
    for reg in _registry_tree():
        if reg.scope != 'mmc2am' or not reg.module_dict:
            continue
        kind = next(k for k in dir(mmc2am_registry)
                    if getattr(mmc2am_registry, k) is reg)
        assert sorted(reg.module_dict) == sorted(PLACES.get(kind, [])), kind
        for name in reg.module_dict:
            assert f'`{name}`' in rows.get(kind, ''), (kind, name)


def test_no_component_in_other_registries():
    # mmc2am classes are registered in mmc2am's nodes only (not in
    # mmpretrain's, mmseg's or mmengine's root registries)
    leaked = [
        f'{reg.scope}.{reg.name}: {name}' for reg in _registry_tree()
        if reg.scope != 'mmc2am' for name, cls in reg.module_dict.items()
        if getattr(cls, '__module__', '').startswith('mmc2am')
    ]
    assert leaked == []
    own = [
        f'{reg.name}: {name}' for reg in _registry_tree()
        if reg.scope == 'mmc2am' for name, cls in reg.module_dict.items()
        if not cls.__module__.startswith('mmc2am.')
    ]
    assert own == []


def test_mmc2am_scope_finds_every_component():
    # default_scope='mmc2am' reaches every registered class by its name, from
    # whichever registry the building code holds (here the roots)
    import mmengine.registry as root
    for reg in _registry_tree():
        if reg.scope != 'mmc2am':
            continue
        root_reg = next(r for r in vars(root).values()
                        if isinstance(r, Registry) and r is reg.parent)
        with DefaultScope.overwrite_default_scope('mmc2am'):
            with root_reg.switch_scope_and_registry(None) as found:
                assert found is reg
                for name, cls in reg.module_dict.items():
                    assert found.get(name) is cls


def test_build_head_in_mmc2am_scope():
    cfg = _cfg('mmc2am', model=dict(
        type='CausalCAMHead', num_classes=20, in_channels=64))
    head = _build(MODELS, cfg, 'model')
    assert type(head) is mmc2am_registry.MODELS.get('CausalCAMHead')
    # the default loss is mmpretrain's, from any scope
    from mmpretrain.models.losses import CrossEntropyLoss
    assert type(head.loss_module) is CrossEntropyLoss


def test_build_head_in_mmpretrain_scope_with_prefix():
    # a user's mmpretrain config: mmc2am's head by its scope prefix; the
    # head's default loss still resolves to mmpretrain's
    from mmpretrain.models.losses import CrossEntropyLoss
    cfg = _cfg('mmpretrain', model=dict(
        type='mmc2am.CausalCAMHead', num_classes=3, in_channels=8))
    head = _build(MODELS, cfg, 'model')
    assert type(head).__name__ == 'CausalCAMHead'
    assert head.num_classes == 3
    assert type(head.loss_module) is CrossEntropyLoss


def test_plain_name_is_not_found_from_another_scope():
    cfg = _cfg('mmpretrain', model=dict(
        type='CausalCAMHead', num_classes=3, in_channels=8))
    with pytest.raises(KeyError, match='CausalCAMHead'):
        _build(MODELS, cfg, 'model')


def test_build_classifier_in_mmpretrain_scope():
    # mmpretrain's backbone by its plain name, mmc2am's parts by prefix; the
    # classifier's defaults (data preprocessor, CAM generator) resolve too
    cfg = _cfg('mmpretrain', model=dict(
        type='mmc2am.CAMClassifier',
        backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
        head=dict(type='mmc2am.CausalCAMHead', num_classes=4,
                  in_channels=512),
        data_preprocessor=dict(num_classes=4, to_onehot=True),
        test_cfg=dict(mode='cam', scales=(1.0, ))))
    model = _build(MODELS, cfg, 'model')
    assert type(model.data_preprocessor).__name__ == 'CAMDataPreprocessor'
    assert type(model.cam_generator).__name__ == 'MultiScaleCAM'
    from mmpretrain.models.backbones import ResNet
    assert type(model.backbone) is ResNet


def test_build_metric_in_mmseg_scope_with_prefix():
    cfg = _cfg('mmseg', metric=dict(type='mmc2am.SeedMetric'))
    metric = _build(METRICS, cfg, 'metric')
    assert type(metric) is mmc2am_registry.METRICS.get('SeedMetric')


def test_stock_mmseg_config_builds_pseudo_mask_dataset(voc_root, tmp_path):
    # mmseg's stock DeepLabV3+ config (mmseg scope) with the training set
    # swapped for mmc2am.PseudoMaskDataset; its pipeline stays mmseg's
    from mmseg.datasets.transforms import LoadAnnotations, PackSegInputs
    cfg = Config.fromfile(find_config('deeplabv3plus_r50-d8_voc_pseudo.py'))
    assert cfg.default_scope == 'mmseg'
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'mmc2am.PseudoMaskDataset'
    ds.update(data_root=voc_root, mask_dir=str(tmp_path), lazy_init=True)
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(ds)
    assert type(dataset) is mmc2am_registry.DATASETS.get('PseudoMaskDataset')
    classes = [type(t) for t in dataset.pipeline.transforms]
    assert LoadAnnotations in classes and PackSegInputs in classes


def _walk_types(node, reg, out, path=''):
    keys = {
        'model': MODELS, 'dataset': DATASETS, 'pipeline': TRANSFORMS,
        'val_evaluator': METRICS, 'test_evaluator': METRICS,
        'init_cfg': WEIGHT_INITIALIZERS
    }
    if isinstance(node, dict):
        if 'type' in node and reg is not None and isinstance(
                node['type'], str):
            out.append((path, reg, node['type']))
        for k, v in node.items():
            _walk_types(v, keys.get(k, reg), out, f'{path}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _walk_types(v, reg, out, f'{path}[{i}]')


@pytest.mark.parametrize('stem', sorted(list_configs()))
def test_every_config_resolves_its_types(stem):
    # Every model / dataset / transform / metric type of every config is
    # found under the config's scope: the stage configs are in mmc2am's
    # scope (mmpretrain's and mmseg's components by prefix), the segmenters
    # in mmseg's (mmc2am's dataset by prefix).
    cfg = Config.fromfile(list_configs()[stem])
    want = 'mmseg' if osp.basename(osp.dirname(
        list_configs()[stem])) in ('deeplabv3plus', 'deeplabv2') else 'mmc2am'
    assert cfg.default_scope == want
    found = []
    for key in ('model', 'train_dataloader', 'val_dataloader',
                'test_dataloader', 'val_evaluator', 'test_evaluator'):
        if key in cfg:
            _walk_types(cfg[key], MODELS if key == 'model' else
                        METRICS if key.endswith('evaluator') else None,
                        found, key)
    assert found
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        for path, reg, type_ in found:
            with reg.switch_scope_and_registry(None) as scoped:
                assert inspect.isclass(scoped.get(type_)), (path, type_)
