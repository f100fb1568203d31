"""CAM files: float16 round trip, written by CAMFileHook in a Runner's test
run, and a killed run resumed without redoing the finished images."""
import os
import signal
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.visualization import Visualizer
from mmpretrain.structures import DataSample
from torch import nn
from torch.utils.data import Dataset

import mmc2am  # noqa: F401  (registers CAMFileHook, SeedMetric)
import mmc2am.cam.cam_inference as cam_inference
from mmc2am.cam import cam_file_path, load_cam_file, predict_cams, save_cam_file
from mmc2am.cam.cam_file import decode_maps, encode_maps
from mmc2am.pipeline.launcher import ForkedRun

NUM_IMAGES, BATCH = 6, 2
SCALES = (1.0, 0.5)


class SmallNet(nn.Module):

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 4, 1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, 4, 1), nn.ReLU())
        self.classifier = nn.Conv2d(8, 4, 1, bias=False)
        self.classifier.weight.data.uniform_(0.1, 1.0)
        self.eval()

    def forward_cam(self, x):
        return F.relu(self.classifier(self.features(x)))


class ToyImages(Dataset):
    """Differently sized images with two classes each and a mask."""

    metainfo = dict(classes=('a', 'b', 'c', 'd'))

    def __len__(self):
        return NUM_IMAGES

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        h, w = 30 + i, 40 - i
        img = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
        s = DataSample().set_gt_label([i % 4, (i + 1) % 4])
        s.set_metainfo(dict(img_shape=(h, w), img_id=f'im{i}'))
        s.set_field(np.full((h, w), i % 4 + 1, np.uint8), 'gt_seg_map')
        return dict(inputs=img, data_samples=s)


class SmallCAMModel(BaseModel):
    """SmallNet's CAMs from ``forward(mode='predict')``, as CAMClassifier."""

    def __init__(self):
        super().__init__(data_preprocessor=dict(type='ImgDataPreprocessor'))
        self.net = SmallNet()
        self.test_cfg = dict(mode='cam')

    def forward_cam(self, x):
        return self.net.forward_cam(x)

    def forward(self, inputs, data_samples=None, mode='predict'):
        return predict_cams(self, inputs, data_samples, scales=SCALES)


def run_all(work_dir, cam_dir=None):
    """A Runner test run with CAMFileHook; the samples it produced."""
    outputs = []

    class Keep(SmallCAMModel):

        def test_step(self, data):
            out = super().test_step(data)
            outputs.extend(out)
            return out

    saved = {c: dict(c._instance_dict) for c in (DefaultScope, Visualizer)}
    try:
        runner = Runner(
            model=Keep().eval(), work_dir=str(work_dir),
            test_dataloader=dict(
                dataset=ToyImages(), batch_size=BATCH, num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False)),
            test_evaluator=dict(type='SeedMetric', save_curve=False),
            test_cfg=dict(),
            default_hooks=dict(cam_file=dict(type='CAMFileHook',
                                             out_dir=cam_dir)),
            default_scope='mmc2am',
            log_level='WARNING')
        runner.test()
    finally:
        for c, inst in saved.items():
            c._instance_dict.clear()
            c._instance_dict.update(inst)
    return outputs


def assert_fp16_close(saved, mem):
    assert saved.dtype == np.float32
    # float16 keeps 11 significant bits: relative rounding <= 2^-11
    np.testing.assert_allclose(saved, mem, rtol=2**-11, atol=1e-7)


def test_round_trip_within_float16(tmp_path):
    out = run_all(tmp_path / 'work')
    assert len(out) == NUM_IMAGES
    for s in out:
        # default folder: <work_dir>/cams
        data = load_cam_file(cam_file_path(str(tmp_path / 'work' / 'cams'),
                                           s.img_id))
        assert data['keys'].tolist() == s.cam_keys.tolist()
        assert data['keys'].dtype == np.int64
        assert_fp16_close(data['cam'], s.cam.numpy())
        assert_fp16_close(data['high_res'], s.high_res_cam.numpy())
        assert not s.cam_from_file


def test_filter_is_lossless_and_plain_float16_files_load(tmp_path):
    rng = np.random.default_rng(0)
    maps = rng.random((3, 7, 9)).astype(np.float16)
    maps[0, 0, :3] = [0, 65504, 6e-8]  # zero, largest, subnormal
    maps[1] = rng.standard_normal((7, 9))  # negative values too
    planes = encode_maps(maps)
    assert planes.dtype == np.uint8 and planes.shape == (2, 3, 7, 9)
    np.testing.assert_array_equal(decode_maps(planes).view(np.uint16),
                                  maps.view(np.uint16))
    # A file of plain float16 arrays (no filter) reads the same.
    path = str(tmp_path / 'plain.npz')
    np.savez_compressed(path, keys=np.array([4, 5, 6]), cam=maps)
    data = load_cam_file(path)
    assert data['cam'].dtype == np.float32 and 'high_res' not in data
    np.testing.assert_array_equal(data['cam'], maps.astype(np.float32))


def test_save_rejects_bad_maps(tmp_path):
    with pytest.raises(ValueError):
        save_cam_file(str(tmp_path / 'a.npz'), [0, 1], np.zeros((1, 4, 4)))
    with pytest.raises(ValueError):  # inf in float16
        save_cam_file(str(tmp_path / 'a.npz'), [0], np.full((1, 4, 4), 1e6))
    assert not os.listdir(tmp_path)
    (tmp_path / 'torn.npz').write_bytes(b'PK\x03\x04 not a zip')
    with pytest.raises(ValueError):
        load_cam_file(str(tmp_path / 'torn.npz'))


KILLED_RUN = r'''
import os, signal, sys
import numpy as np
sys.path.insert(0, {tests!r})
import test_cam_file as t

kill_at, calls = {kill_at}, [0]
write = np.savez_compressed

def torn_write(f, **arrays):
    calls[0] += 1
    if calls[0] == kill_at:
        f.write(b'PK\x03\x04 half a file')  # a partial write, then death
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    write(f, **arrays)

np.savez_compressed = torn_write
t.run_all({work!r}, {cam_dir!r})
'''


def test_killed_run_resumes(tmp_path, monkeypatch):
    cam_dir = str(tmp_path / 'cams')
    kill_at = 4  # dies while writing the 4th file, in the second batch
    code = KILLED_RUN.format(
        tests=os.path.dirname(__file__), kill_at=kill_at, cam_dir=cam_dir,
        work=str(tmp_path / 'work'))
    # a process of its own, forked from the import-only forkserver
    script, log = tmp_path / 'killed_run.py', str(tmp_path / 'killed.log')
    script.write_text(code)
    ret = ForkedRun([sys.executable, str(script)], str(tmp_path),
                    dict(os.environ), log).wait(300)
    assert ret == -signal.SIGKILL, open(log).read()[-2000:]
    finished = sorted(f for f in os.listdir(cam_dir) if f.endswith('.npz'))
    # Only complete files under their final names (the torn temp file, if
    # any, is hidden and never read).
    assert finished == [f'im{i}.npz' for i in range(kill_at - 1)]
    for f in finished:
        load_cam_file(os.path.join(cam_dir, f))

    computed = []
    real = cam_inference.multi_scale_cam

    def counting(forward_cam, img, *args, **kwargs):
        computed.append(img.shape[0])
        return real(forward_cam, img, *args, **kwargs)

    monkeypatch.setattr(cam_inference, 'multi_scale_cam', counting)
    resumed = run_all(tmp_path / 'work', cam_dir)
    assert sum(computed) == NUM_IMAGES - (kill_at - 1)
    assert [s.cam_from_file for s in resumed] == [True] * 3 + [False] * 3
    # the torn temporary of the killed write is cleaned up at the end
    assert not [f for f in os.listdir(cam_dir) if f.endswith('.tmp')]

    fresh = run_all(tmp_path / 'fresh')  # the in-memory CAMs
    for s, ref in zip(resumed, fresh):
        data = load_cam_file(cam_file_path(cam_dir, s.img_id))
        assert_fp16_close(data['high_res'], ref.high_res_cam.numpy())
        assert_fp16_close(data['cam'], ref.cam.numpy())
        # What a resumed run hands on equals what it would have computed.
        assert_fp16_close(s.high_res_cam.numpy(), ref.high_res_cam.numpy())

    computed.clear()
    again = run_all(tmp_path / 'work', cam_dir)
    assert computed == [] and all(s.cam_from_file for s in again)
