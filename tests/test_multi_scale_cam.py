"""Batched multi-scale CAM inference equals a plain per-scale, per-flip loop."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample
from torch import nn

from mmc2am.cam import inference_cam_fn, multi_scale_cam, predict_cams
from mmc2am.models.cam_generators import MultiScaleCAM

NUM_CLASSES = 5
SCALES = (1.0, 0.5, 1.5, 2.0)


class TinyCAMNet(nn.Module):
    """Output stride 16, frozen BatchNorm with non-trivial statistics."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 8):
        super().__init__()
        layers, c = [], 3
        for _ in range(4):
            layers += [nn.Conv2d(c, width, 3, 2, 1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU()]
            c = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(width, num_classes, 1, bias=False)
        g = torch.Generator().manual_seed(0)
        # Mostly positive class weights: every class lights up somewhere.
        self.classifier.weight.data.uniform_(-0.3, 1.0, generator=g)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.data.uniform_(0.5, 1.5, generator=g)
                m.bias.data.uniform_(-0.2, 0.2, generator=g)

    def forward_cam(self, x):
        return F.relu(self.classifier(self.features(x)))


def loop_cams(net, img, keys, scales=SCALES, flip=True):
    """IRN's make_cam.py, one image, one forward per scale and per flip."""
    H, W = img.shape[-2:]
    strided_size = (math.ceil(H / 4), math.ceil(W / 4))
    up_size = (math.ceil(H / 16) * 16, math.ceil(W / 16) * 16)
    strided, high_res = 0, 0
    for s in scales:
        if s == 1.0:
            x = img[None]
        else:
            size = (int(np.round(H * s)), int(np.round(W * s)))
            # PIL-compatible bicubic, as IRN's pil_rescale
            x = F.interpolate(img[None], size, mode='bicubic',
                              align_corners=False, antialias=True)
        for flipped in ((False, True) if flip else (False, )):
            cam = net.forward_cam(x.flip(-1) if flipped else x)
            cam = cam.flip(-1) if flipped else cam
            strided = strided + F.interpolate(
                cam, strided_size, mode='bilinear', align_corners=False)[0]
            high_res = high_res + F.interpolate(
                cam, up_size, mode='bilinear', align_corners=False)[0]
    high_res = high_res[:, :H, :W]
    strided, high_res = strided[keys], high_res[keys]
    strided = strided / (strided.amax((1, 2), keepdim=True) + 1e-5)
    high_res = high_res / (high_res.amax((1, 2), keepdim=True) + 1e-5)
    return strided, high_res


def make_batch(shapes, labels, seed=0):
    """A padded batch (random junk in the padding) and its data samples."""
    g = torch.Generator().manual_seed(seed)
    Hm = max(h for h, _ in shapes)
    Wm = max(w for _, w in shapes)
    inputs = torch.randn(len(shapes), 3, Hm, Wm, generator=g) * 3
    samples = []
    for (h, w), label in zip(shapes, labels):
        s = DataSample().set_gt_label(label)
        s.set_metainfo(dict(img_shape=(h, w)))
        samples.append(s)
    return inputs, samples


@pytest.fixture()
def net():
    torch.manual_seed(0)
    return TinyCAMNet().eval()


@pytest.mark.parametrize('flip', [True, False])
def test_batched_equals_plain_loop(net, flip):
    shapes = [(37, 50), (45, 29), (37, 50)]
    labels = [[1, 3], [0], [4, 2, 0]]
    inputs, samples = make_batch(shapes, labels)
    out = predict_cams(net, inputs, samples, scales=SCALES, flip=flip)
    with torch.no_grad():
        for img, (h, w), label, s in zip(inputs, shapes, labels, out):
            keys = sorted(label)
            ref_s4, ref_hr = loop_cams(net, img[:, :h, :w], keys, flip=flip)
            assert s.cam_keys.tolist() == keys
            assert s.cam.shape == (len(keys), math.ceil(h / 4),
                                   math.ceil(w / 4))
            assert s.high_res_cam.shape == (len(keys), h, w)
            assert (s.cam - ref_s4).abs().max() < 1e-5
            assert (s.high_res_cam - ref_hr).abs().max() < 1e-5
            assert (s.high_res_cam.amax((1, 2)) > 0.99).all()  # normalised


def test_reference_path_and_all_classes(net):
    inputs, samples = make_batch([(33, 41)], [[2, 0]])
    ref = predict_cams(net, inputs, samples, reference=True)[0]
    s4, hr = loop_cams(net, inputs[0], [0, 2])
    assert (ref.cam - s4).abs().max() < 1e-5
    assert (ref.high_res_cam - hr).abs().max() < 1e-5
    # Without keys, all classes come back un-normalised, batched.
    with torch.no_grad():
        a4, ahr = multi_scale_cam(net.forward_cam, inputs, SCALES, True)
    assert a4.shape == (1, NUM_CLASSES, 9, 11) and ahr.shape[1:] == (
        NUM_CLASSES, 33, 41)
    norm = ahr[0, [0, 2]] / (ahr[0, [0, 2]].amax((1, 2), keepdim=True) + 1e-5)
    assert (norm - hr).abs().max() < 1e-5


@pytest.mark.parametrize('reference', [False, True])
def test_multi_scale_cam_generator_is_predict_cams(net, reference):
    """The registered generator runs predict_cams with its arguments: the
    same maps bit for bit; a sample read back from its CAM file is kept."""
    shapes, labels = [(37, 50), (45, 29)], [[1, 3], [0]]
    gen = MultiScaleCAM(scales=(1.0, 0.5), flip=False, reference=reference)
    out = gen(net, *make_batch(shapes, labels))
    ref = predict_cams(net, *make_batch(shapes, labels), scales=(1.0, 0.5),
                       flip=False, reference=reference)
    for a, b in zip(out, ref):
        assert a.cam_keys.tolist() == b.cam_keys.tolist()
        assert torch.equal(a.cam, b.cam)
        assert torch.equal(a.high_res_cam, b.high_res_cam)
        assert a.cam_from_file is False
    out[0].set_metainfo(dict(cam_from_file=True))
    again = gen(net, make_batch(shapes, labels)[0], out)
    assert again[0].cam_from_file is True and again[1].cam_from_file is False
    assert torch.equal(again[1].high_res_cam, ref[1].high_res_cam)
    with pytest.raises(ValueError, match='2 images but 1 data samples'):
        gen(net, make_batch(shapes, labels)[0], out[:1])
    with pytest.raises(ValueError, match='exceeds the batch'):
        gen(net, make_batch([(20, 20)], [[0]])[0], out[:1])


def test_fused_copy_for_one_pass(net):
    """inference_cam_fn: a BN-fused copy (mmcv) with the model's CAMs."""
    x = make_batch([(32, 40)], [[1]])[0]
    fused = inference_cam_fn(net)
    owner = fused.__self__
    assert owner is not net
    assert not any(isinstance(m, nn.BatchNorm2d) for m in owner.modules())
    with torch.no_grad():
        torch.testing.assert_close(fused(x), net.forward_cam(x), rtol=1e-5,
                                   atol=1e-6)
    # the model itself is untouched
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 4
    assert inference_cam_fn(net, fuse_bn=False) == net.forward_cam


def test_no_folding_with_training_bn_and_no_classes(net):
    net.train()
    assert inference_cam_fn(net) == net.forward_cam
    net.eval()
    inputs, samples = make_batch([(20, 24)], [[]])
    out = predict_cams(net, inputs, samples)[0]
    assert out.cam.shape == (0, 5, 6) and out.high_res_cam.shape == (0, 20, 24)


def test_mmpretrain_resnet_fuses_every_bn():
    """mmcv's fuse_conv_bn folds every BN of mmpretrain's ResNet blocks and
    stem, with the same CAMs."""
    from mmpretrain.models import ResNet

    class Wrapper(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = ResNet(
                depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                base_channels=8, out_indices=(3, ))
            self.classifier = nn.Conv2d(64, NUM_CLASSES, 1, bias=False)

        def forward_cam(self, x):
            return F.relu(self.classifier(self.backbone(x)[-1]))

    torch.manual_seed(1)
    model = Wrapper()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    fused = inference_cam_fn(model)
    assert not any(isinstance(m, nn.BatchNorm2d)
                   for m in fused.__self__.modules())
    x = make_batch([(40, 36)], [[0]])[0]
    with torch.no_grad():
        ref = model.forward_cam(x)
        assert (fused(x) - ref).abs().max() < 1e-5 * ref.abs().max()
