"""benchmarks/bench_segmenter_seeds.py (issue 25): the trainings it plans on
fixed masks, and the table's mean / std / ratio from the test work dirs'
metrics (no training)."""
import importlib.util
import json
import os
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEG = 'deeplabv3plus_r18w32-d16_gen_pseudo'


def _module():
    spec = importlib.util.spec_from_file_location(
        'bench_segmenter_seeds',
        osp.join(REPO, 'benchmarks', 'bench_segmenter_seeds.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bs = _module()


def _write(path, text):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def test_stages_train_on_the_method_masks_with_each_seed(tmp_path):
    bench = bs.Bench(bs.parse_args(['--work-dir', str(tmp_path),
                                    '--tag', 'x']))
    train, test, no_crf = bench.stages('c2am_spatial', 2)
    assert train.tool == 'train' and test.tool == no_crf.tool == 'test'
    assert train.work == test.work == test.ckpt_of == osp.join(
        'work_dirs', 'segseeds_x', 'c2am_spatial_seed2')
    # the gen segmenter scores with the test CRF: again without it
    assert bench.crf
    assert no_crf.ckpt_of == train.work
    assert no_crf.work == osp.join(train.work, 'no_crf')
    assert no_crf.opts == ('model.test_cfg.crf=None', )
    assert train.opts == (
        'train_dataloader.dataset.mask_dir='
        'work_dirs/crf_gen_c2am_spatial/masks', 'randomness.seed=2')
    assert train.stem == SEG  # the gen preset's segmenter


def test_results_mean_std_ratio_and_equal_masks(tmp_path):
    work = str(tmp_path)
    masks = dict(cam=b'A', c2am=b'B', c2am_spatial=b'B')
    crf_miou = dict(cam=50.0, c2am=60.0, c2am_spatial=60.0)
    seg = dict(cam=[45.0, 47.0, 49.0], c2am=[54.0, 54.0, 57.0],
               c2am_spatial=[55.0, 56.0, 57.0])
    for m in masks:
        for name in ('x_1.png', 'x_0.png'):
            _write(osp.join(work, 'work_dirs', f'crf_gen_{m}', 'masks',
                            name), masks[m].decode())
        _write(osp.join(work, 'work_dirs', f'crf_gen_{m}',
                        'test_metrics.json'),
               json.dumps(dict(mIoU=crf_miou[m])))
        for s, v in enumerate(seg[m]):
            d = osp.join(work, 'work_dirs', 'segseeds', f'{m}_seed{s}')
            _write(osp.join(d, 'test_metrics.json'), json.dumps(dict(mIoU=v)))
            _write(osp.join(d, 'no_crf', 'test_metrics.json'),
                   json.dumps(dict(mIoU=v - 8 + s)))
            _write(osp.join(d, f'.done_train_{SEG}'), f'{100.0 + s}\n')
    bench = bs.Bench(bs.parse_args(['--work-dir', work]))
    r = bench.results()['methods']
    # mean, sample std (n - 1): cam 47 +- 2; c2am 55 +- sqrt(3)
    assert r['cam']['seg']['mean'] == pytest.approx(47.0)
    assert r['cam']['seg']['std'] == pytest.approx(2.0)
    assert r['c2am']['seg']['std'] == pytest.approx(3 ** 0.5)
    assert r['cam']['ratio'] == pytest.approx(47.0 / 50.0)
    assert r['c2am_spatial']['ratio'] == pytest.approx(56.0 / 60.0)
    assert r['cam']['train_seconds'] == [100.0, 101.0, 102.0]
    # without the test CRF: cam 37, 40, 43 -> 40 +- 3
    assert r['cam']['seg_miou_no_crf'] == [37.0, 40.0, 43.0]
    assert r['cam']['seg_no_crf']['mean'] == pytest.approx(40.0)
    assert r['cam']['seg_no_crf']['std'] == pytest.approx(3.0)
    # byte-equal mask folders name each other
    assert r['cam']['same_masks_as'] == []
    assert r['c2am']['same_masks_as'] == ['c2am_spatial']
    text = bs.table(bench.results())
    assert '| CAM | 50.0 | 45.0 | 47.0 | 49.0 | 47.0 +- 2.0 | 4.0 | 0.94 ' \
        '| 40.0 +- 3.0 | 101 | - |' in text
    # c2am without CRF: 46, 47, 51 -> 48 +- sqrt(7)
    assert '| C2AM | 60.0 | 54.0 | 54.0 | 57.0 | 55.0 +- 1.7 | 3.0 | 0.92 ' \
        '| 48.0 +- 2.6 | 101 | C2AM spatial |' in text


def test_missing_masks_stop_before_any_training(tmp_path):
    bench = bs.Bench(bs.parse_args(['--work-dir', str(tmp_path),
                                    '--methods', 'cam']))
    with pytest.raises(SystemExit, match='--until masks'):
        bench()


@pytest.mark.parametrize('bad', [['--jobs', '0'],
                                 ['--cfg-options', 'no_stem']])
def test_bad_options(bad):
    with pytest.raises(SystemExit):
        bs.parse_args(['--work-dir', 'w', *bad])
