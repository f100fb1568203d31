"""PseudoMaskDataset inside mmseg's stock DeepLabV3+ VOC config."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import mmc2am  # noqa: F401  (registers PseudoMaskDataset)
from mmc2am.cam.pseudo_mask import load_label_png, save_label_png
from mmc2am.utils import find_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = find_config('deeplabv3plus_r50-d8_voc_pseudo.py')
GEN_CONFIG = find_config('deeplabv3plus_r18w32-d16_gen_pseudo.py')
LOAD_ONLY = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


@pytest.fixture(scope='module')
def mask_dir(voc_root, tmp_path_factory):
    """Pseudo-masks of train_aug: the true masks with a 255 border band."""
    out = tmp_path_factory.mktemp('pseudo')
    with open(osp.join(voc_root, 'ImageSets/Segmentation/trainaug.txt')) as f:
        ids = f.read().split()
    for img_id in ids:
        mask = load_label_png(
            osp.join(voc_root, 'SegmentationClassAug', f'{img_id}.png')).copy()
        mask[:, :5] = 255
        save_label_png(str(out / f'{img_id}.png'), mask)
    return str(out)


def build_train_set(config, voc_root, mask_dir, pipeline=None):
    from mmseg.registry import DATASETS

    init_default_scope('mmseg')
    cfg = Config.fromfile(config)
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.update(data_root=voc_root, mask_dir=mask_dir)
    if pipeline is not None:
        ds_cfg.pipeline = pipeline
    return cfg, DATASETS.build(ds_cfg)


def test_stock_config_is_inherited_and_only_train_set_swapped():
    cfg = Config.fromfile(CONFIG)
    assert cfg.train_dataloader.dataset.type == 'mmc2am.PseudoMaskDataset'
    assert cfg.train_dataloader.dataset.ann_file.endswith('trainaug.txt')
    # Everything else is mmseg's: real-mask VOC val, model, schedule.
    val = cfg.val_dataloader.dataset
    assert val.type == 'PascalVOCDataset'
    assert val.data_prefix.seg_map_path == 'SegmentationClass'
    assert val.ann_file.endswith('val.txt')
    assert cfg.model.decode_head.type == 'DepthwiseSeparableASPPHead'
    assert cfg.model.decode_head.num_classes == 21
    assert cfg.train_cfg.max_iters == 20000
    assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
    assert 'mmc2am' in cfg.custom_imports.imports


def test_sample_gt_equals_png_on_disk(voc_root, mask_dir):
    _, ds = build_train_set(CONFIG, voc_root, mask_dir, LOAD_ONLY)
    assert len(ds) == 48 and ds.metainfo['classes'][0] == 'background'
    assert ds.ignore_index == 255
    for idx in (0, len(ds) - 1):
        sample = ds[idx]
        seg_path = ds.get_data_info(idx)['seg_map_path']
        assert osp.dirname(seg_path) == mask_dir
        gt = sample['data_samples'].gt_sem_seg.data
        np.testing.assert_array_equal(gt[0].numpy(), load_label_png(seg_path))
        assert (gt == 255).any()


def test_stock_train_pipeline_runs(voc_root, mask_dir):
    _, ds = build_train_set(CONFIG, voc_root, mask_dir)
    sample = ds[0]
    assert sample['inputs'].shape == (3, 512, 512)
    values = set(sample['data_samples'].gt_sem_seg.data.unique().tolist())
    assert values <= set(range(21)) | {255}


def test_missing_masks_are_named(voc_root, mask_dir, tmp_path):
    partial = tmp_path / 'partial'
    shutil.copytree(mask_dir, partial)
    names = sorted(os.listdir(partial))
    for name in names[:2]:
        os.remove(partial / name)
    with pytest.raises(FileNotFoundError) as e:
        build_train_set(CONFIG, voc_root, str(partial))
    msg = str(e.value)
    assert '2 of 48' in msg and names[0][:-4] in msg and str(partial) in msg


def test_gen_config_trains_one_step(voc_root, mask_dir):
    from mmseg.registry import MODELS

    cfg, ds = build_train_set(GEN_CONFIG, voc_root, mask_dir)
    assert cfg.model.pretrained is None
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.val_dataloader.dataset.data_prefix.seg_map_path == \
        'SegmentationClass'
    model = MODELS.build(cfg.model)
    model.train()
    data = model.data_preprocessor(pseudo_collate([ds[0], ds[1]]), True)
    assert data['inputs'].shape == (2, 3, 64, 64)
    losses = model.loss(**data)
    loss = sum(v for k, v in losses.items() if k.endswith('loss_ce'))
    assert torch.isfinite(loss)
    loss.backward()
