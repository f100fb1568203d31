"""tools/make_pseudo_masks.py: masks, evaluation, resume after a kill."""
import json
import os
import os.path as osp
import runpy
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from mmc2am.cam.cam_file import cam_file_path, save_cam_file
from mmc2am.cam.pseudo_mask import load_label_png

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'make_pseudo_masks.py')
CONFIG = osp.join(REPO, 'configs', 'c2am', 'pseudo_mask_gen.py')


def _ids(voc_root, split):
    with open(osp.join(voc_root, 'ImageSets', 'Segmentation',
                       f'{split}.txt')) as f:
        return f.read().split()


@pytest.fixture(scope='module')
def cam_dir(voc_root, tmp_path_factory):
    """CAM files of train_aug made from the true masks, blurred past edges."""
    out = str(tmp_path_factory.mktemp('cams'))
    for img_id in _ids(voc_root, 'trainaug'):
        gt = load_label_png(
            osp.join(voc_root, 'SegmentationClassAug', f'{img_id}.png'))
        ids = [c for c in np.unique(gt) if 0 < c < 255]
        high_res = np.stack([
            cv2.GaussianBlur((gt == c).astype(np.float32), (0, 0), 3)
            for c in ids
        ]) if ids else np.zeros((0, ) + gt.shape, np.float32)
        high_res /= high_res.max(axis=(1, 2), keepdims=True) + 1e-5
        save_cam_file(
            cam_file_path(out, img_id), np.array(ids, np.int64) - 1,
            high_res[:, ::4, ::4], high_res)
    return out


def run_tool(monkeypatch, *args):
    monkeypatch.setattr(sys, 'argv', [TOOL, *args])
    runpy.run_path(TOOL, run_name='__main__')


def tool_args(voc_root, cam_dir, work_dir, *options):
    return [CONFIG, '--work-dir', str(work_dir), '--cfg-options',
            f'data_root={voc_root}', f'cam_dir={cam_dir}', *options]


def read_masks(folder):
    return {
        name: load_label_png(osp.join(folder, name))
        for name in sorted(os.listdir(folder)) if name.endswith('.png')
    }


@pytest.fixture(scope='module')
def reference(voc_root, cam_dir, tmp_path_factory):
    """An uninterrupted run with 2 worker processes."""
    work_dir = tmp_path_factory.mktemp('ref')
    mp = pytest.MonkeyPatch()
    try:
        run_tool(mp, *tool_args(voc_root, cam_dir, work_dir, 'num_workers=2'))
    finally:
        mp.undo()
    return work_dir


def test_uninterrupted_run(voc_root, reference):
    masks = read_masks(reference / 'pseudo_masks')
    assert len(masks) == len(_ids(voc_root, 'trainaug'))
    values = set(np.unique(np.concatenate([m.ravel() for m in masks.values()])))
    assert values <= set(range(21)) | {255} and 255 in values
    with open(reference / 'pseudo_mask_results.json') as f:
        res = json.load(f)
    assert res['num_made'] == len(masks)
    assert res['num_eval'] == len(_ids(voc_root, 'train'))
    # CAMs from the true masks: the confident labels are mostly right.
    assert res['mIoU_confident'] > 80
    assert res['mIoU'] <= res['mIoU_confident']
    assert 0 < res['ignored_pct'] < 50
    assert res['IoU']['background'] is not None


def test_rerun_with_other_settings_is_refused(voc_root, cam_dir, reference,
                                              monkeypatch):
    with pytest.raises(ValueError, match='t_fg'):
        run_tool(monkeypatch,
                 *tool_args(voc_root, cam_dir, reference, 't_fg=0.5'))


def test_missing_cam_files_are_named(voc_root, cam_dir, tmp_path,
                                     monkeypatch):
    partial = tmp_path / 'cams'
    partial.mkdir()
    for name in sorted(os.listdir(cam_dir))[2:]:
        os.link(osp.join(cam_dir, name), partial / name)
    first = sorted(os.listdir(cam_dir))[0][:-4]
    with pytest.raises(FileNotFoundError, match=f'2 of .*{first}'):
        run_tool(monkeypatch,
                 *tool_args(voc_root, partial, tmp_path / 'work'))


# Runs the tool with each mask slowed down, so that it can be killed midway.
SLOW_RUNNER = """
import runpy, sys, time
import mmc2am.cam.pseudo_mask as pm
make = pm.make_pseudo_mask_file
def slow(*args, **kwargs):
    time.sleep(0.3)
    return make(*args, **kwargs)
pm.make_pseudo_mask_file = slow
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def test_killed_run_resumes_without_redoing(voc_root, cam_dir, reference,
                                            tmp_path, monkeypatch):
    work_dir = tmp_path / 'work'
    out_dir = work_dir / 'pseudo_masks'
    args = tool_args(voc_root, cam_dir, work_dir, 'num_workers=1')
    proc = subprocess.Popen(
        [sys.executable, '-c', SLOW_RUNNER, TOOL, *args], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if out_dir.is_dir() and len(list(out_dir.glob('*.png'))) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
              for p in out_dir.glob('*.png')}
    total = len(_ids(voc_root, 'trainaug'))
    assert 3 <= len(before) < total

    run_tool(monkeypatch, *args)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
             for p in out_dir.glob('*.png')}
    # Finished files are untouched, the rest were made once.
    assert {k: after[k] for k in before} == before
    with open(work_dir / 'pseudo_mask_results.json') as f:
        assert json.load(f)['num_made'] == total - len(before)
    assert not list(out_dir.glob('.*.tmp'))
    # Same masks as the uninterrupted run.
    ref, got = read_masks(reference / 'pseudo_masks'), read_masks(out_dir)
    assert ref.keys() == got.keys()
    for name in ref:
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
