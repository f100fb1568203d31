"""Each method's own pseudo-mask thresholds and CAM power in its VOC configs
(issue 24, build item 2): the values the reference code of each method runs
with, read from the configs with mmengine's ``Config``, and the two options
the references need that IRN's pipeline lacks (the random walk on
``cam ** p``; C2AM's doubled adjusted score at its commit 7cb39df), checked
against hand computations on tiny tensors.

The references (public code, file:line of the run that the method's numbers
come from):

- IRN (jiwoon-ahn/irn) ``run_sample.py``: conf_fg_thres 0.30 (line 35),
  conf_bg_thres 0.05 (36), sem_seg_bg_thres 0.25 (52); the walk on
  ``cam_dict['cam']`` (``step/make_sem_seg_labels.py``). CONTA
  (dongzhang89/CONTA) ``pseudo_mask/run_sample.py`` lines 35, 36, 52: the
  same values.
- C2AM (yiping-wang/c2am) HEAD ``cfg/c2am.yml``: conf_fg_thres 0.375 (34),
  conf_bg_thres 0.10 (35), sem_seg_bg_thres 0.20 (43); at commit 7cb39df,
  which first records the published 51.4 / 69.6: 0.38 (35), 0.10 (36),
  0.21 (44), ``agg_smooth_r: 2`` (22), ``cam_scales`` IRN's four (23).
- ReCAM (zhaozhengChen/ReCAM) ``run_sample.py``: conf_fg_thres 0.35 (52),
  conf_bg_thres 0.10 (53), sem_seg_bg_thres 0.28 (68); the walk on
  ``cam_dict['cam']`` (``step/make_sem_seg_labels.py`` 42).
- AdvCAM (jbeomlee93/AdvCAM) ``run_sample.py``: conf_fg_thres 0.35 (45),
  conf_bg_thres 0.15 (46), sem_seg_bg_thres 0.25 (62); the walk on
  ``np.power(cam_dict['cam'], 1.5)`` (``step/make_sem_seg_labels.py`` 42).
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmc2am.utils import find_config

#: method -> (t_fg, t_bg, random-walk bg, CAM power, the reference's
#: file:line)
REFERENCE = {
    'cam': (0.30, 0.05, 0.25, 1.0, 'jiwoon-ahn/irn run_sample.py:35,36,52'),
    # CONTA runs IRN's mask steps unchanged after its classifier
    'conta': (0.30, 0.05, 0.25, 1.0,
              'dongzhang89/CONTA pseudo_mask/run_sample.py:35,36,52'),
    # the layer1-2-trained CAM (ReCAM's and C2AM 7cb39df's start): plain CAM
    'cam_l12': (0.30, 0.05, 0.25, 1.0,
                'jiwoon-ahn/irn run_sample.py:35,36,52'),
    'c2am': (0.375, 0.10, 0.20, 1.0,
             'yiping-wang/c2am HEAD cfg/c2am.yml:34,35,43'),
    'c2am_spatial': (0.375, 0.10, 0.20, 1.0,
                     'yiping-wang/c2am HEAD cfg/c2am.yml:34,35,43'),
    'c2am_7cb39df': (0.38, 0.10, 0.21, 1.0,
                     'yiping-wang/c2am 7cb39df cfg/c2am.yml:35,36,44'),
    'recam': (0.35, 0.10, 0.28, 1.0,
              'zhaozhengChen/ReCAM run_sample.py:52,53,68; '
              'step/make_sem_seg_labels.py:42'),
    'advcam': (0.35, 0.15, 0.25, 1.5,
               'jbeomlee93/AdvCAM run_sample.py:45,46,62; '
               'step/make_sem_seg_labels.py:42'),
}
#: method -> its VOC CRF and IRN configs (configs/crf, configs/irn)
CONFIGS = {
    m: (f'crf_voc_{m}.py', f'irn_r50_voc_{m}.py')
    for m in REFERENCE if m != 'conta'
}


def _cfg(name: str) -> Config:
    return Config.fromfile(find_config(name))


def _check(method: str, crf: str, irn: str) -> None:
    t_fg, t_bg, bg, power, where = REFERENCE[method]
    model = _cfg(crf).model
    assert (model.t_fg, model.t_bg) == (t_fg, t_bg), where
    walk = _cfg(irn).model.test_cfg
    assert walk.bg_thr == bg, where
    assert walk.get('cam_power', 1.0) == power, where
    # the two mask stages read the same method's CAM files
    assert _cfg(crf).test_dataloader.dataset.cam_dir == \
        _cfg(irn).test_dataloader.dataset.cam_dir


@pytest.mark.parametrize('method', sorted(CONFIGS))
def test_voc_thresholds_equal_the_references(method):
    _check(method, *CONFIGS[method])


def test_the_configs_cite_the_reference_lines():
    """Each method's CRF / IRN config names the file:line of its values."""
    cites = {
        'crf_voc_cam.py': 'run_sample.py:35-36',
        'irn_r50_voc_cam.py': 'run_sample.py:52',
        'crf_voc_c2am.py': 'cfg/c2am.yml:34-35',
        'irn_r50_voc_c2am.py': 'cfg/c2am.yml:43',
        'crf_voc_c2am_7cb39df.py': 'cfg/c2am.yml:35-36',
        'irn_r50_voc_c2am_7cb39df.py': 'cfg/c2am.yml:44',
        'crf_voc_recam.py': 'run_sample.py:52-53',
        'irn_r50_voc_recam.py': 'run_sample.py:68',
        'crf_voc_advcam.py': 'run_sample.py:45-46',
        'irn_r50_voc_advcam.py': 'make_sem_seg_labels.py:42',
    }
    for name, cite in cites.items():
        with open(find_config(name)) as f:
            assert cite in f.read(), (name, cite)


def test_the_voc_pipeline_runs_the_reference_thresholds():
    """The methods of the VOC pipeline (configs/pipelines/voc.py) that this
    table covers run mask configs with their reference's thresholds."""
    from mmc2am.pipeline.methods import Methods
    methods = Methods('voc')
    assert {'cam', 'c2am', 'c2am_spatial', 'recam', 'advcam'} <= set(
        methods.keys)
    for m in methods.keys:
        if m in REFERENCE:
            _check(m, methods.config(m, 'crf'), methods.config(m, 'irn'))


def test_recam_starts_from_the_layer12_cam():
    """ReCAM fine-tunes its own CAM network, whose layer1-2 were trained
    (ReCAM net/resnet50_cam.py:29-48, no stage2 detach), not IRN's."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmc2am  # noqa: F401
    recam, l12, cam = (_cfg(n) for n in (
        'recam_r50_voc.py', 'cam_r50_voc_l12.py', 'cam_r50_voc.py'))
    assert recam.load_from == 'work_dirs/cam_r50_voc_l12/epoch_5.pth'
    assert cam.model.backbone.frozen_stages == 2  # IRN: stage2(x).detach()
    assert l12.model.backbone.frozen_stages == 0  # the stem only
    assert recam.model.backbone.frozen_stages == 0
    # otherwise IRN's recipe: the same schedule, scales and BN
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert l12[key] == cam[key], key
    assert l12.model.test_cfg == cam.model.test_cfg
    assert l12.model.backbone.norm_eval is True
    # what trains: built (no weights loaded), then set to training mode
    init_default_scope('mmc2am')
    l12.model.backbone.init_cfg = None
    bb = MODELS.build(l12.model.backbone)
    bb.train()
    assert not any(p.requires_grad for p in bb.conv1.parameters())
    assert not any(p.requires_grad for p in bb.norm1.parameters())
    for layer in (bb.layer1, bb.layer2, bb.layer3, bb.layer4):
        assert all(p.requires_grad for p in layer.parameters())
        # BatchNorm statistics frozen (FixedBatchNorm in the references)
        assert not any(m.training for m in layer.modules()
                       if isinstance(m, torch.nn.BatchNorm2d))


def test_c2am_7cb39df_recipe():
    """The 7cb39df variant beside HEAD's: IRN's network with layer1-2
    trained, four scales, the adjusted score doubled, by-class global CAM,
    the layer1-2 CAM as start (c2am_r50_voc_7cb39df.py cites each line)."""
    head, old = _cfg('c2am_r50_voc.py'), _cfg('c2am_r50_voc_7cb39df.py')
    irn_scales = (1.0, 0.5, 1.5, 2.0)
    assert old.load_from == 'work_dirs/cam_r50_voc_l12/epoch_5.pth'
    assert head.load_from == 'work_dirs/cam_r50_voc/epoch_5.pth'
    assert old.model.backbone.frozen_stages == 0
    assert old.model.backbone.strides == (1, 2, 2, 1)  # stride 16
    assert old.model.head.score_scale == 2.0
    assert head.model.head.get('score_scale', 1.0) == 1.0
    assert tuple(old.model.test_cfg.scales) == irn_scales
    hook, = old.custom_hooks
    assert hook.type == 'GlobalCAMHook' and tuple(hook.scales) == irn_scales
    assert (hook.reduce, hook.cam_resolution) == ('by_class', 'square')
    # the schedule is HEAD's (cfg/c2am.yml:25-29 at both commits)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert old[key] == head[key], key
    aug = _cfg('c2am_r50_voc_7cb39df_trainaug.py')
    assert aug.test_dataloader.dataset.ann_file.endswith('trainaug.txt')
    assert _cfg('crf_voc_c2am_7cb39df.py').test_dataloader.dataset.cam_dir \
        == osp.join('work_dirs', 'c2am_r50_voc_7cb39df_trainaug', 'cams')


# --------------------------------------------------------------------------
# the options the references need, against hand computations


def _two_node_walk(cam_power: float):
    """Two classes on a 1 x 2 stride-4 grid without boundary (edge 0).

    Every affinity is 1, so the column-normalised transition matrix is 1/2
    everywhere and the walk replaces each map by its mean over the two
    nodes: class 0 ``[1.0, 0.0]`` -> ``mean(1 ** p, 0 ** p) = 0.5``, class 1
    ``[0.64, 0.64]`` -> ``0.64 ** p`` (p = 1: 0.64; p = 1.5: 0.512), constant
    maps that stay constant through the 4x bilinear upsampling to the
    4 x 8 image; then all are divided by the largest.
    """
    from mmc2am.cam.random_walk import random_walk_scores
    cams = torch.tensor([[[1.0, 0.0]], [[0.64, 0.64]]], dtype=torch.float64)
    edge = torch.zeros(1, 2, dtype=torch.float64)
    return random_walk_scores(cams, edge, (4, 8), cam_power=cam_power)


def test_random_walk_cam_power_by_hand():
    plain, powered = _two_node_walk(1.0), _two_node_walk(1.5)
    assert plain.shape == powered.shape == (2, 4, 8)
    # p = 1: 0.5 / 0.64 and 0.64 / 0.64
    torch.testing.assert_close(plain[0], torch.full((4, 8), 0.78125,
                                                    dtype=torch.float64))
    torch.testing.assert_close(plain[1], torch.ones(4, 8, dtype=torch.float64))
    # p = 1.5 (AdvCAM): 0.5 / 0.512 and 0.512 / 0.512
    torch.testing.assert_close(powered[0], torch.full(
        (4, 8), 0.9765625, dtype=torch.float64))
    torch.testing.assert_close(powered[1],
                               torch.ones(4, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match='cam_power'):
        _two_node_walk(0.0)


def test_irnet_walks_cam_power_from_its_test_cfg():
    """``model.test_cfg.cam_power`` reaches the walk and the recorded mask
    settings (default 1: unchanged, and not recorded, so masks made before
    the option existed stay reusable)."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    import mmc2am  # noqa: F401
    init_default_scope('mmc2am')
    backbone = dict(type='mmpretrain.ResNet', depth=18, num_stages=4,
                    strides=(1, 2, 2, 1), out_indices=(3, ))
    common = dict(type='IRNet', backbone=backbone,
                  in_channels=(64, 64, 128, 256, 512))
    walked = {}
    for power in (1.0, 1.5):
        model = MODELS.build(dict(common, test_cfg=dict(
            bg_thr=0.9, cam_power=power)))
        assert model.test_cfg['cam_power'] == power
        sample = SegDataSample(metainfo=dict(cam_keys=[3, 7]))
        sample.set_field(torch.tensor([[[1.0, 0.0]], [[0.64, 0.64]]]), 'cam')
        model._walk(sample, torch.zeros(1, 2), (4, 8))
        walked[power] = sample.seg_scores
        assert ('cam_power' in model.mask_params) == (power != 1)
        # class 1 (key 7) has the top score everywhere: label 8
        assert (sample.pred_sem_seg.data == 8).all()
    assert walked[1.0][0, 0, 0].item() == pytest.approx(0.78125)
    assert walked[1.5][0, 0, 0].item() == pytest.approx(0.9765625)
    with pytest.raises(KeyError, match='unknown test_cfg'):
        MODELS.build(dict(common, test_cfg=dict(bg_thr=0.25, power=1.5)))


def test_front_door_score_scale_by_hand():
    """C2AM's ``mean_agg(cam, r) = mean(cam * r)``: with features constant
    per channel ``(1, 2, 3)`` and ``W = [[1, 0, 0], [0, 1, 1]]`` the logits
    are ``z = (1, 5)``; global CAMs with means 0.5 and 0.25 give the
    front-door scores ``z * mean(G) * r`` = (0.5, 1.25) * r; the spatial
    form on a constant logit map is ``z * r``."""
    from mmc2am.models import CausalCAMHead
    feats = torch.tensor([1.0, 2.0, 3.0])[None, :, None, None].expand(
        1, 3, 2, 2).contiguous()
    g = torch.tensor([[[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0], [0.0, 0.0]]])
    want = {
        'front_door': torch.tensor([[0.5, 1.25]]),
        'front_door_spatial': torch.tensor([[1.0, 5.0]]),
    }
    for adjustment, base in want.items():
        for r in (1.0, 2.0):
            head = CausalCAMHead(num_classes=2, in_channels=3,
                                 adjustment=adjustment, global_cam_size=2,
                                 score_scale=r)
            with torch.no_grad():
                head.conv.weight.copy_(torch.tensor(
                    [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])[:, :, None, None])
            head.set_global_cam(g)
            torch.testing.assert_close(
                head.adjusted_scores((feats, )), base * r)
    with pytest.raises(ValueError, match='score_scale'):
        CausalCAMHead(num_classes=2, in_channels=3, adjustment=None,
                      score_scale=2.0)
