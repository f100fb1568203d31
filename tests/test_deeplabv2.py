"""DeepLab-v2 as C2AM's segmenter (issue 24, build 3): the summed dilated
ASPP head, the multi-scale inputs fused by max (MSC) and their training
loss, C2AM's background / foreground balanced loss, the dense-CRF
post-processing, and the configs, against hand computations on small
tensors."""
import copy
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.cam.pseudo_mask import crf_inference_label, load_label_png, save_label_png
from mmc2am.models.segmentors import DEEPLAB_CRF, MSCEncoderDecoder, dense_crf
from mmc2am.registry import MODELS
from mmc2am.utils import find_config

pytestmark = pytest.mark.usefixtures('one_thread')

VOC_CONFIG = find_config('deeplabv2_r101-d8_voc_pseudo.py')
GEN_CONFIG = find_config('deeplabv2_r18w32-d8_gen_pseudo.py')


def build_in_scope(cfg, scope='mmseg'):
    """``cfg`` built by mmc2am's MODELS under ``scope`` (the configs')."""
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


def gen_model(**overrides):
    """The generated-data config's model (ResNet-18 at half width, random
    init), with ``overrides`` of its top-level model keys."""
    cfg = Config.fromfile(GEN_CONFIG).model
    cfg.update(overrides)
    model = build_in_scope(cfg)
    model.init_weights()
    return model.eval()


# -- the head ----------------------------------------------------------------
def test_head_is_the_sum_of_dilated_convs_by_hand():
    # one channel of ones (5x5), all-one 3x3 kernels, dilations 1 and 2,
    # biases 0.5 and 0.25: each output is the number of taps inside the
    # image per branch (zero padding), plus 0.75
    head = build_in_scope(
        dict(type='mmc2am.ASPPV2Head', in_channels=1, num_classes=1,
             dilations=(1, 2)))
    for conv, b in zip(head.aspp, (0.5, 0.25)):
        torch.nn.init.ones_(conv.weight)
        torch.nn.init.constant_(conv.bias, b)
    out = head([torch.ones(1, 1, 5, 5)])
    assert out.shape == (1, 1, 5, 5)
    # centre: 9 + 9 taps; corner: 2x2 + 2x2 (rows {0,1} / {0,2});
    # top edge middle: 2x3 + 2x3; (1, 1): 3x3 + 2x2 (rows {-1, 1, 3})
    assert out[0, 0, 2, 2].item() == pytest.approx(18.75)
    assert out[0, 0, 0, 0].item() == pytest.approx(8.75)
    assert out[0, 0, 0, 2].item() == pytest.approx(12.75)
    assert out[0, 0, 1, 1].item() == pytest.approx(13.75)


def test_head_equals_four_conv2d_on_a_random_tensor():
    torch.manual_seed(0)
    head = build_in_scope(
        dict(type='mmc2am.ASPPV2Head', in_channels=3, num_classes=4))
    assert head.dilations == (6, 12, 18, 24)
    assert not hasattr(head, 'conv_seg')
    for conv in head.aspp:
        torch.nn.init.normal_(conv.bias)
    x = torch.randn(2, 3, 9, 7)
    want = sum(
        F.conv2d(x, c.weight, c.bias, padding=d, dilation=d)
        for c, d in zip(head.aspp, (6, 12, 18, 24)))
    torch.testing.assert_close(head([x]), want)
    # input taken at in_index (the default -1: the last map)
    torch.testing.assert_close(head([torch.zeros(1, 3, 2, 2), x]), want)


def test_head_init_is_the_references():
    torch.manual_seed(0)
    head = build_in_scope(
        dict(type='mmc2am.ASPPV2Head', in_channels=2048, num_classes=21))
    head.init_weights()
    w = torch.cat([c.weight.flatten() for c in head.aspp])
    assert w.numel() == 4 * 21 * 2048 * 9
    assert w.std().item() == pytest.approx(0.01, rel=0.01)
    assert abs(w.mean().item()) < 1e-4
    assert all((c.bias == 0).all() for c in head.aspp)
    names = {n for n, _ in head.named_parameters()}
    assert names == {f'aspp.{i}.{p}' for i in range(4)
                     for p in ('weight', 'bias')}


# -- MSC ---------------------------------------------------------------------
def per_scale_by_hand(model, x, scales=(0.5, 0.75)):
    """[l_1, l_s..., l_max] computed outside the segmentor."""
    def logits(t):
        return model.decode_head.forward(model.backbone(t))

    l1 = logits(x)
    ls = [
        logits(
            F.interpolate(x, scale_factor=s, mode='bilinear',
                          align_corners=False)) for s in scales
    ]
    fused = l1
    for lg in ls:
        fused = torch.maximum(
            fused,
            F.interpolate(lg, size=l1.shape[2:], mode='bilinear',
                          align_corners=False))
    return [l1] + ls + [fused]


def test_msc_fusion_is_the_max_of_resized_scales():
    torch.manual_seed(0)
    model = gen_model(test_cfg=dict(mode='whole', crf=None))
    assert model.crf is None
    x = torch.randn(2, 3, 32, 40)
    with torch.no_grad():
        got = model.multi_scale_logits(x)
        want = per_scale_by_hand(model, x)
    # stride 8: 4x5; 0.5 -> 16x20 -> 2x3 (ceil); 0.75 -> 24x30 -> 3x4
    assert [tuple(g.shape[2:]) for g in got] == [(4, 5), (2, 3), (3, 4),
                                                (4, 5)]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    # every fused value is one of the resized scales' values, the largest
    stacked = torch.stack(
        [want[0]] + [F.interpolate(lg, size=(4, 5), mode='bilinear',
                                   align_corners=False) for lg in want[1:3]])
    assert torch.equal(got[-1], stacked.max(0)[0])
    assert (got[-1] >= stacked).all()
    # the test-time output: the fused logits (tensor mode and predict)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), want[-1])
        res = model.predict(x)
    up = F.interpolate(want[-1], size=(32, 40), mode='bilinear',
                       align_corners=False)
    for i in range(2):
        torch.testing.assert_close(res[i].seg_logits.data, up[i])
        assert torch.equal(res[i].pred_sem_seg.data[0], up[i].argmax(0))


def test_msc_without_scales_is_the_plain_network():
    torch.manual_seed(0)
    model = gen_model(msc_scales=())
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        out = model.multi_scale_logits(x)
        assert len(out) == 1
        torch.testing.assert_close(
            out[0], model.decode_head.forward(model.backbone(x)))


def test_nearest_exact_is_the_references_pil_nearest():
    # the reference resizes the labels with PIL's NEAREST (main.py
    # resize_labels); the segmentor with torch's 'nearest-exact'
    rng = np.random.default_rng(0)
    label = rng.integers(0, 21, size=(41, 37)).astype(np.int64)
    label[rng.random(label.shape) < 0.2] = 255
    model = gen_model()
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
    for h, w in ((21, 19), (31, 28), (6, 5), (41, 37)):
        pil = np.asarray(
            Image.fromarray(label.astype(np.float32)).resize(
                (w, h), resample=Image.NEAREST)).astype(np.int64)
        got = model._labels_at([sample], (h, w))[0].gt_sem_seg.data[0]
        np.testing.assert_array_equal(got.numpy(), pil)


def test_train_loss_is_the_sum_of_per_scale_and_fused_losses():
    torch.manual_seed(0)
    ce = dict(type='CrossEntropyLoss', avg_non_ignore=True)
    model = gen_model()
    model.decode_head.loss_decode = build_in_scope(ce)
    x = torch.randn(2, 3, 32, 32)
    labels = torch.randint(0, 21, (2, 1, 32, 32))
    labels[:, :, :4] = 255
    samples = []
    for i in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=labels[i])
        samples.append(s)
    losses = model.loss(x, samples)
    names = ['1x', '0.5x', '0.75x', 'max']
    assert sorted(k for k in losses if 'loss' in k) == sorted(
        f'decode_{n}.loss_ce' for n in names)
    want_total = 0.0
    for name, lg in zip(names, per_scale_by_hand(model, x)):
        lab = F.interpolate(labels.float(), size=lg.shape[2:],
                            mode='nearest-exact')[:, 0].long()
        want = F.cross_entropy(lg, lab, ignore_index=255)
        torch.testing.assert_close(losses[f'decode_{name}.loss_ce'], want)
        want_total = want_total + want
    total, _ = model.parse_losses(losses)
    torch.testing.assert_close(total, want_total)
    # mmseg's way: the logits upsampled to the labels
    model.downsample_labels = False
    losses = model.loss(x, samples)
    lg = per_scale_by_hand(model, x)[1]
    up = F.interpolate(lg, size=(32, 32), mode='bilinear',
                       align_corners=False)
    torch.testing.assert_close(
        losses['decode_0.5x.loss_ce'],
        F.cross_entropy(up, labels[:, 0], ignore_index=255))


# -- C2AM's balanced loss ------------------------------------------------------
def test_bg_fg_balanced_loss_by_hand():
    loss = build_in_scope(dict(type='mmc2am.BgFgBalancedCELoss'))
    assert loss.loss_name == 'loss_ce'
    ln3 = math.log(3)
    # 4 pixels, 2 classes: bg with logits (0, 0): CE ln 2; fg with (0, ln 3):
    # p = 3/4, CE ln 4/3; fg with (ln 3, 0): p = 1/4, CE ln 4; one ignored
    logits = torch.tensor([[0, 0, ln3, 5.0], [0, ln3, 0, -5.0]])[None, :,
                                                                  None]
    label = torch.tensor([[[0, 1, 1, 255]]])
    want = (math.log(2) + (math.log(4 / 3) + math.log(4)) / 2) / 2
    assert loss(logits, label).item() == pytest.approx(want, rel=1e-6)
    # no foreground: the background mean, halved (the reference: 0/0 = nan)
    assert loss(logits[..., :1], label[..., :1]).item() == pytest.approx(
        math.log(2) / 2, rel=1e-6)
    # C2AM's criterion_balance (main.py:27-40) written out
    torch.manual_seed(0)
    lg = torch.randn(2, 5, 6, 7)
    lab = torch.randint(0, 5, (2, 6, 7))
    lab[0, 0] = 255
    per = F.cross_entropy(lg, lab, reduction='none', ignore_index=255)
    bg = (lab == 0).float()
    fg = ((lab != 0) & (lab != 255)).float()
    ref = ((per * bg).sum() / bg.sum() + (per * fg).sum() / fg.sum()) / 2
    torch.testing.assert_close(loss(lg, lab), ref)


# -- dense CRF -----------------------------------------------------------------
def two_tone(h=12, w=16):
    """(h, w, 3) uint8: black left half, white right half."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, w // 2:] = 255
    return img


def test_crf_without_iterations_returns_the_probabilities():
    rng = np.random.default_rng(0)
    p = rng.random((3, 5, 6)).astype(np.float32) + 0.01
    p /= p.sum(0, keepdims=True)
    q = dense_crf(two_tone(5, 6), p, iter_max=0)
    np.testing.assert_allclose(q, p, rtol=1e-5, atol=1e-6)


def test_crf_fills_an_uncertain_band_up_to_the_image_edge():
    # confident class 0 in columns 0-2, class 1 in 13-15, uniform between:
    # the CRF labels the band by colour, so the labels change at column 8,
    # where the image turns from black to white
    p = np.full((2, 12, 16), 0.5, np.float32)
    p[:, :, :3] = np.array([0.9, 0.1])[:, None, None]
    p[:, :, 13:] = np.array([0.1, 0.9])[:, None, None]
    q = dense_crf(two_tone(), p, **DEEPLAB_CRF)
    want = np.zeros((12, 16), np.int64)
    want[:, 8:] = 1
    np.testing.assert_array_equal(q.argmax(0), want)
    # a flipped pixel inside the black half follows its region
    p2 = np.zeros_like(p)
    p2[0, :, :8], p2[1, :, :8] = 0.8, 0.2
    p2[0, :, 8:], p2[1, :, 8:] = 0.2, 0.8
    p2[:, 5, 3] = (0.4, 0.6)
    assert p2.argmax(0)[5, 3] == 1
    np.testing.assert_array_equal(
        dense_crf(two_tone(), p2, **DEEPLAB_CRF).argmax(0), want)


def test_crf_equals_the_projects_label_crf_on_its_unaries():
    # crf_inference_label (IRN's pseudo-mask CRF) builds -log of gt_prob at
    # the label and (1 - gt_prob) / (n - 1) elsewhere: the same model
    rng = np.random.default_rng(1)
    img = two_tone(20, 24)
    img[6:14, 4:10] = (200, 30, 30)
    img = np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0,
                  255).astype(np.uint8)
    labels = rng.integers(0, 3, size=(20, 24))
    n, gt = 3, 0.7
    probs = np.full((n, 20, 24), (1 - gt) / (n - 1), np.float32)
    np.put_along_axis(probs, labels[None], gt, axis=0)
    want = crf_inference_label(img, labels, n, iters=10, gt_prob=gt,
                               gaussian=dict(sxy=3, compat=3),
                               bilateral=dict(sxy=50, srgb=5, compat=10))
    got = dense_crf(img, probs, iter_max=10, pos_w=3, pos_xy_std=3,
                    bi_w=10, bi_xy_std=50, bi_rgb_std=5).argmax(0)
    np.testing.assert_array_equal(got, want)
    assert (got != labels).any()  # the CRF did change the map


def test_segmentor_crf_is_dense_crf_of_the_softmax():
    torch.manual_seed(0)
    model = gen_model()
    assert model.crf == DEEPLAB_CRF
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(2, 3, 24, 32)).astype(np.uint8)
    imgs[:, :, :, 16:] //= 4
    raw = torch.from_numpy(imgs)
    meta = dict(ori_shape=(24, 32), img_shape=(24, 32), pad_shape=(24, 32),
                padding_size=[0, 0, 0, 0])
    samples = [SegDataSample(metainfo=meta) for _ in range(2)]
    data = model.data_preprocessor(
        dict(inputs=list(raw), data_samples=samples), False)
    with torch.no_grad():
        res = model.predict(data['inputs'], data['data_samples'])
    pre = model.data_preprocessor
    for i in range(2):
        # the image given to the CRF is the input (BGR -> RGB by the
        # preprocessor; the CRF's colour kernel ignores the order)
        rgb = imgs[i][::-1].transpose(1, 2, 0)
        np.testing.assert_array_equal(
            model._image_of(data['inputs'][i], samples[i].metainfo), rgb)
        probs = res[i].seg_logits.data.softmax(0).numpy()
        want = dense_crf(rgb, probs, **DEEPLAB_CRF).argmax(0)
        np.testing.assert_array_equal(res[i].pred_sem_seg.data[0].numpy(),
                                      want)
    assert pre._enable_normalize
    # without test_cfg.crf: the argmax of the logits
    plain = gen_model(test_cfg=dict(mode='whole', crf=None))
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        res2 = plain.predict(data['inputs'], data['data_samples'])
    for a, b in zip(res, res2):
        torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data)
        assert torch.equal(b.pred_sem_seg.data[0],
                           b.seg_logits.data.argmax(0))
    with pytest.raises(ValueError, match='unknown CRF settings'):
        gen_model(test_cfg=dict(mode='whole', crf=dict(iters=5)))


# -- configs -------------------------------------------------------------------
def test_voc_config_is_the_references_recipe():
    cfg = Config.fromfile(VOC_CONFIG)
    m = cfg.model
    assert m.type == 'mmc2am.MSCEncoderDecoder'
    assert m.msc_scales == (0.5, 0.75)
    assert m.backbone.depth == 101 and m.backbone.dilations == (1, 1, 2, 4)
    assert m.backbone.strides == (1, 2, 1, 1)
    assert m.pretrained == 'torchvision://resnet101'
    assert 'init_cfg' not in m.backbone
    assert m.decode_head.dilations == (6, 12, 18, 24)
    assert m.decode_head.loss_decode.type == 'mmc2am.BgFgBalancedCELoss'
    assert m.test_cfg.crf == {}
    assert m.data_preprocessor.size == (321, 321)
    assert cfg.train_dataloader.batch_size == 10
    assert cfg.optim_wrapper.accumulative_counts == 2
    assert cfg.train_cfg.max_iters == 60000  # 30000 updates x 2 batches
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4)
    assert cfg.param_scheduler[0].power == 0.9
    assert cfg.train_dataloader.dataset.type == 'mmc2am.PseudoMaskDataset'
    assert cfg.val_dataloader.dataset.type == 'PascalVOCDataset'
    resize = cfg.train_pipeline[2]
    assert [t[0]['scale_factor'] for t in resize.transforms] == [
        0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
    assert cfg.val_dataloader.dataset.pipeline == cfg.test_pipeline
    assert cfg.test_dataloader == cfg.val_dataloader
    assert [t['type'] for t in cfg.test_pipeline] == [
        'LoadImageFromFile', 'LoadAnnotations', 'PackSegInputs']


def test_voc_config_builds_and_runs_on_cpu():
    torch.manual_seed(0)
    cfg = Config.fromfile(VOC_CONFIG)
    # building downloads nothing (EncoderDecoder writes into the dict: a copy)
    model = build_in_scope(copy.deepcopy(cfg.model))
    assert model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='torchvision://resnet101')
    cfg.model.pretrained = None  # random init (the pipeline's --smoke)
    model = build_in_scope(cfg.model).eval()
    assert all(c['type'] != 'Pretrained'
               for c in model.backbone.init_cfg)  # ResNet's random init
    assert isinstance(model, MSCEncoderDecoder)
    x = torch.randn(1, 3, 33, 41)
    with torch.no_grad():
        out = model.multi_scale_logits(x)
    # stride 8: 5x6; 0.5 -> 16x20 -> 2x3; 0.75 -> 24x30 -> 3x4 (mmseg's stem
    # max-pool has no ceil_mode: deeplab-pytorch's gives 3x3 at 0.5)
    assert [tuple(o.shape) for o in out] == [(1, 21, 5, 6), (1, 21, 2, 3),
                                             (1, 21, 3, 4), (1, 21, 5, 6)]
    # BN frozen and eval; the ASPP at 10x, its biases at 20x without decay
    with DefaultScope.overwrite_default_scope('mmseg'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {id(p): g for g in wrapper.optimizer.param_groups
              for p in g['params']}
    head = model.decode_head.aspp[2]
    assert groups[id(head.weight)]['lr'] == pytest.approx(2.5e-3)
    assert groups[id(head.weight)]['weight_decay'] == pytest.approx(5e-4)
    assert groups[id(head.bias)]['lr'] == pytest.approx(5e-3)
    assert groups[id(head.bias)]['weight_decay'] == 0
    conv = model.backbone.layer3[0].conv2
    assert groups[id(conv.weight)]['lr'] == pytest.approx(2.5e-4)
    bn = model.backbone.layer3[0].bn2
    assert id(bn.weight) not in groups and not bn.weight.requires_grad
    model.train()
    assert not bn.training  # norm_eval


@pytest.fixture(scope='module')
def mask_dir(voc_root, tmp_path_factory):
    """Pseudo-masks of train_aug: the true masks with a 255 band."""
    out = tmp_path_factory.mktemp('pseudo_v2')
    with open(osp.join(voc_root, 'ImageSets/Segmentation/trainaug.txt')) as f:
        ids = f.read().split()
    for img_id in ids:
        mask = load_label_png(
            osp.join(voc_root, 'SegmentationClassAug', f'{img_id}.png')).copy()
        mask[:, :5] = 255
        save_label_png(str(out / f'{img_id}.png'), mask)
    return str(out)


def test_gen_config_trains_and_validates_with_the_crf(voc_root, mask_dir,
                                                      tmp_path):
    # mmengine's runner on the generated data: 2 iterations, then val on the
    # 12 val images through MSC and the CRF
    from mmengine.runner import Runner

    cfg = Config.fromfile(GEN_CONFIG)
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.dataset.update(data_root=voc_root, mask_dir=mask_dir)
    cfg.val_dataloader.dataset.data_root = voc_root
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.param_scheduler[0].end = 2
    cfg.visualizer.vis_backends = []
    runner = Runner.from_cfg(cfg)
    model = runner.train()
    assert isinstance(model, MSCEncoderDecoder) and model.crf == DEEPLAB_CRF
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))
    metrics = runner.val_loop.run()
    assert 0 <= metrics['mIoU'] <= 100
