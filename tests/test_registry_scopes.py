"""mmc2am components build from configs of either toolbox's default scope."""
from mmengine.config import Config
from mmengine.registry import METRICS, MODELS, DefaultScope


def _cfg(scope: str, **kwargs) -> Config:
    return Config(dict(
        default_scope=scope,
        custom_imports=dict(imports=['mmc2am'], allow_failed_imports=False),
        **kwargs))


def _build(registry, cfg: Config, key: str):
    # What the runner does: import custom modules, then build from the
    # root registry under the config's default scope.
    from mmengine.utils import import_modules_from_strings
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return registry.build(cfg[key])


def test_build_head_in_mmpretrain_scope():
    cfg = _cfg('mmpretrain', model=dict(
        type='CausalCAMHead', num_classes=20, in_channels=64))
    head = _build(MODELS, cfg, 'model')
    assert type(head).__name__ == 'CausalCAMHead'
    assert type(head).__module__.startswith('mmc2am.')


def test_build_metric_in_mmseg_scope():
    cfg = _cfg('mmseg', metric=dict(type='SeedMetric'))
    metric = _build(METRICS, cfg, 'metric')
    assert type(metric).__name__ == 'SeedMetric'
    assert type(metric).__module__.startswith('mmc2am.')


def test_build_head_in_mmseg_scope_with_prefix():
    # A dotted type switches scope for one lookup, as mmseg users write it.
    cfg = _cfg('mmseg', model=dict(
        type='mmpretrain.CausalCAMHead', num_classes=3, in_channels=8))
    head = _build(MODELS, cfg, 'model')
    assert head.num_classes == 3
