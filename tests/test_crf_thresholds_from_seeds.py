"""CRFConfidentLabels' thresholds from the method's own seed sweep
(``thresholds_from_seeds``, the generated-data pseudo-mask configs)."""
import json
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmc2am.utils import find_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _build(**kwargs):
    from mmseg.registry import MODELS

    import mmc2am  # noqa: F401
    init_default_scope('mmseg')
    return MODELS.build(dict(type='mmc2am.CRFConfidentLabels', **kwargs))


def _metrics(tmp_path, best, key='best_threshold'):
    path = tmp_path / 'test_metrics.json'
    path.write_text(json.dumps({'mIoU': 40.0, key: best}))
    return str(path)


@pytest.mark.parametrize('best,fg,bg,expected', [
    (0.55, 0.0, -0.10, (0.55, 0.45)),   # the generated-data rule
    (0.05, 0.0, -0.10, (0.05, 0.0)),    # clipped at 0
    (0.97, 0.05, -0.10, (1.0, 0.87)),   # clipped at 1
    (0.50, -0.20, 0.10, (0.30, 0.30)),  # t_bg <= t_fg
])
def test_rule(tmp_path, best, fg, bg, expected):
    model = _build(thresholds_from_seeds=dict(
        metrics=_metrics(tmp_path, best), fg=fg, bg=bg))
    assert (model.t_fg, model.t_bg) == pytest.approx(expected)
    # recorded beside the masks: a new seed sweep refuses the old masks
    assert model.mask_params['thresholds_from_seeds'] == dict(
        fg=fg, bg=bg, best_threshold=best)
    assert model.mask_params['t_fg'] == model.t_fg


def test_default_offsets_and_prefixed_key(tmp_path):
    model = _build(thresholds_from_seeds=dict(
        metrics=_metrics(tmp_path, 0.6, key='seed/best_threshold')))
    assert (model.t_fg, model.t_bg) == (0.6, 0.5)


def test_constants_keep_their_records():
    model = _build(t_fg=0.30, t_bg=0.05)
    assert 'thresholds_from_seeds' not in model.mask_params


def test_refusals(tmp_path):
    metrics = _metrics(tmp_path, 0.5)
    with pytest.raises(ValueError, match='not both'):
        _build(t_fg=0.3, t_bg=0.05,
               thresholds_from_seeds=dict(metrics=metrics))
    with pytest.raises(ValueError, match='takes metrics'):
        _build(thresholds_from_seeds=dict(metrics=metrics, offset=0.1))
    with pytest.raises(FileNotFoundError, match='seed test first'):
        _build(thresholds_from_seeds=dict(
            metrics=str(tmp_path / 'missing.json')))
    (tmp_path / 'other.json').write_text('{"mIoU": 3}')
    with pytest.raises(KeyError, match='best_threshold'):
        _build(thresholds_from_seeds=dict(
            metrics=str(tmp_path / 'other.json')))


def test_generated_configs_read_their_seed_stage(tmp_path, monkeypatch):
    """The configs' relative path, from the work folder of the pipeline."""
    monkeypatch.chdir(tmp_path)
    for method, cls in (('cam', 'cam_r18_gen'), ('c2am', 'c2am_r18_gen'),
                        ('c2am_spatial', 'c2am_r18_gen_spatial')):
        work = tmp_path / 'work_dirs' / cls
        work.mkdir(parents=True)
        (work / 'test_metrics.json').write_text(
            json.dumps({'best_threshold': 0.57}))
        cfg = Config.fromfile(find_config(f'crf_gen_{method}.py'))
        model = _build(**{k: v for k, v in cfg.model.items() if k != 'type'})
        assert (model.t_fg, model.t_bg) == pytest.approx((0.57, 0.47))


def test_model_module_and_old_import_path():
    """The CRF model lives in mmc2am.models.crf; the path of older code
    still works, with a warning."""
    import mmc2am.models.irn as irn
    from mmc2am.models.crf import CRFConfidentLabels, thresholds_from_seed_sweep

    assert type(_build(t_fg=0.30, t_bg=0.05)) is CRFConfidentLabels
    assert CRFConfidentLabels.__module__ == \
        'mmc2am.models.crf.crf_confident_labels'
    with pytest.warns(DeprecationWarning, match='mmc2am.models.crf'):
        assert irn.CRFConfidentLabels is CRFConfidentLabels
    with pytest.warns(DeprecationWarning):
        assert irn.thresholds_from_seed_sweep is thresholds_from_seed_sweep
    assert 'CRFConfidentLabels' not in irn.__all__
