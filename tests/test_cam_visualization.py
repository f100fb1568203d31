"""CAM pictures, and a CAM test run through mmengine's Runner: predict_cams,
SeedMetric (curve files in the log folder) and CAMVisualizationHook."""
import glob
import json
import os.path as osp

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

from mmc2am.cam import predict_cams
from mmc2am.visualization import CAMVisualizer, draw_cam_overlay, seed_from_cams

CLASSES = ('cat', 'dog', 'boat')


class ToyCAMDataset(Dataset):
    """Images with one bright rectangle of a known class (channel 0)."""

    metainfo = dict(classes=CLASSES)

    def __len__(self):
        return 5

    def __getitem__(self, i):
        h, w = 48, 64 - 4 * i
        gt = np.zeros((h, w), dtype=np.uint8)
        gt[8:40, 10 + i:40 + i] = i % 3 + 1
        gt[0, :] = 255
        img = np.full((3, h, w), 20, dtype=np.uint8)
        img[0][gt == i % 3 + 1] = 220
        sample = DataSample().set_gt_label([i % 3])
        sample.set_metainfo(dict(img_shape=(h, w), img_id=f'img{i}'))
        sample.set_field(gt, 'gt_seg_map')
        return dict(inputs=torch.from_numpy(img), data_samples=sample)


class ToyCAMModel(BaseModel):
    """forward_cam: channel 0 pooled to stride 16, one map per class."""

    def __init__(self):
        super().__init__(data_preprocessor=dict(type='ImgDataPreprocessor'))
        self.weight = nn.Parameter(torch.ones(len(CLASSES), 1, 1, 1))

    def forward_cam(self, x):
        return F.relu(F.conv2d(
            F.avg_pool2d(x[:, :1] - 20, 16, ceil_mode=True), self.weight))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.forward_cam(inputs)

    def test_step(self, data):
        data = self.data_preprocessor(data, False)
        return predict_cams(self, data['inputs'], data['data_samples'],
                            scales=(1.0, 0.5), flip=True)


@pytest.fixture()
def restore_globals():
    """A Runner makes its default scope and visualizer the current ones;
    put back the previous ones for the tests that follow."""
    saved = {cls: dict(cls._instance_dict) for cls in (DefaultScope, Visualizer)}
    yield
    for cls, instances in saved.items():
        cls._instance_dict.clear()
        cls._instance_dict.update(instances)


def test_runner_cam_test_run(tmp_path, restore_globals):
    runner = Runner(
        model=ToyCAMModel(),
        work_dir=str(tmp_path),
        test_dataloader=dict(
            dataset=ToyCAMDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        test_evaluator=dict(type='SeedMetric'),
        test_cfg=dict(),
        # A train loop that cannot be built: the test run must not touch it
        # (runner.iter would build it).
        train_dataloader=dict(
            dataset=dict(type='NoSuchDataset'),
            sampler=dict(type='DefaultSampler'),
            batch_size=1),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        custom_hooks=[dict(type='CAMVisualizationHook', num_images=3)],
        visualizer=dict(
            type='CAMVisualizer', vis_backends=[dict(type='LocalVisBackend')]),
        default_hooks=dict(logger=dict(type='LoggerHook')),
        default_scope='mmc2am',
        log_level='WARNING')
    metrics = runner.test()
    assert metrics['mIoU'] > 50  # coarse (stride 16) toy CAMs of rectangles
    assert 0 < metrics['best_threshold'] < 0.95
    curve = json.loads(open(osp.join(runner.log_dir, 'seed_sweep.json')).read())
    assert curve['best_threshold'] == metrics['best_threshold']
    assert curve['num_images'] == 5
    assert osp.isfile(osp.join(runner.log_dir, 'seed_sweep.png'))
    pictures = sorted(glob.glob(
        osp.join(runner.log_dir, 'vis_data', 'vis_image', 'cam_*.png')))
    names = [osp.basename(p) for p in pictures]
    assert names == ['cam_img0_0.png', 'cam_img1_0.png', 'cam_img2_0.png']
    import mmcv
    pic = mmcv.imread(pictures[1])
    # image | one class | seed, 48 px enlarged 4x (to >= 160 px)
    assert pic.shape == (48 * 4, 60 * 4 * 3, 3)


def test_draw_cam_overlay_and_visualizer(tmp_path, restore_globals):
    vis = Visualizer(name='overlay_test')
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), np.uint8)
    cams = np.stack([np.linspace(0, 1, 600).reshape(20, 30),
                     np.linspace(1, 0, 600).reshape(20, 30)]).astype(np.float32)
    pic = draw_cam_overlay(vis, image, cams, [1, 2], 0.3, list(CLASSES),
                           min_size=20)
    assert pic.shape == (20, 30 * 4, 3) and pic.dtype == np.uint8
    pic = draw_cam_overlay(vis, image, cams, [1, 2], 0.3, min_size=50)
    assert pic.shape == (60, 90 * 4, 3)  # enlarged 3x
    seed = seed_from_cams(cams, np.array([1, 2]), 0.3)
    assert set(np.unique(seed)) == {2, 3}
    assert draw_cam_overlay(vis, image, cams, [1, 2],
                            min_size=1).shape == (20, 90, 3)

    cam_vis = CAMVisualizer(name='cam_vis_test', class_names=CLASSES)
    sample = DataSample()
    sample.set_metainfo(dict(cam_keys=torch.tensor([1, 2])))
    sample.set_field(torch.from_numpy(cams), 'high_res_cam')
    out = str(tmp_path / 'x.png')
    cam_vis.add_datasample('x', image, sample, out_file=out)
    assert osp.isfile(out)
