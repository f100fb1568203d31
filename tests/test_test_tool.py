"""tools/test.py --out: ``keep_results`` only for metrics that take it."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'test_tool', osp.join(REPO, 'tools', 'test.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


@pytest.mark.parametrize('scope,metric,takes', [
    ('mmseg', 'CityscapesMetric', True),   # mmseg's --out contract
    ('mmseg', 'IoUMetric', False),
    ('mmc2am', 'SeedMetric', False),       # ours, mmc2am's registry
    ('mmc2am', 'PseudoMaskMetric', False),
    ('mmseg', 'mmc2am.PseudoMaskMetric', False),
])
def test_keep_results_only_where_accepted(scope, metric, takes):
    cfg = Config(dict(default_scope=scope))
    assert tool._takes(cfg, metric, 'keep_results') is takes
    assert tool._takes(cfg, metric, 'output_dir')
