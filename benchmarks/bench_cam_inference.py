"""Images per second of CAM inference: batched/folded vs per-scale loops.

The model is the project's CAM classifier built from a config (default
``configs/c2am/cam_r50_voc.py``: IRN's ResNet-50, output stride 16, 20
classes), random weights with randomised BatchNorm statistics, eval mode,
CPU. Each image goes through ``predict_cams`` one at a time (the test
configs use batch size 1) with IRN's scales (1.0, 0.5, 1.5, 2.0) and flips,
two ground-truth classes per image. Methods:

- ``loop``: the plain loop, one forward per scale and per flip, every class
  resized, the model as is (``predict_cams(..., reference=True)``);
- ``flip_batched``: the previous implementation, one forward per scale with
  the flip in the batch, every class resized, the model as is;
- ``fast``: ``predict_cams`` defaults (flip batched, BatchNorm folded into
  the convolutions, only the ground-truth classes resized);
- ``fast_cl``: ``fast`` with ``channels_last=True``.

Rounds alternate the methods on the same images; the median time of each is
reported. Every method's CAMs are checked against ``loop`` (max abs
difference of the max-normalised maps).

    python benchmarks/bench_cam_inference.py [--size 192 256] [--images 2]
        [--rounds 3] [--config configs/c2am/cam_r50_voc.py]
"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F


def previous_multi_scale_cam(forward_cam, img, scales, flip=True):
    """The implementation before this change: per-scale loop with the flip
    batched, all classes resized (bicubic image resize, as now)."""
    from mmc2am.cam.multi_scale import resize_image
    B, _, H, W = img.shape
    strided_size = (math.ceil(H / 4), math.ceil(W / 4))
    up_size = (math.ceil(H / 16) * 16, math.ceil(W / 16) * 16)
    strided, high_res = 0, 0
    for s in scales:
        x = resize_image(img, s)
        if flip:
            cam = forward_cam(torch.cat([x, x.flip(-1)], dim=0))
            cam = cam[:B] + cam[B:].flip(-1)
        else:
            cam = forward_cam(x)
        strided = strided + F.interpolate(
            cam, strided_size, mode='bilinear', align_corners=False)
        high_res = high_res + F.interpolate(
            cam, up_size, mode='bilinear', align_corners=False)[..., :H, :W]
    return strided, high_res


def build_model(config):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmc2am  # noqa: F401
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.backbone.init_cfg = None  # no download
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    for m in model.modules():  # non-trivial statistics to fold
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/c2am/cam_r50_voc.py')
    parser.add_argument('--size', type=int, nargs=2, default=(192, 256))
    parser.add_argument('--images', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from mmpretrain.structures import DataSample

    from mmc2am.cam import normalize_cams, predict_cams
    model = build_model(args.config)
    scales = (1.0, 0.5, 1.5, 2.0)
    g = torch.Generator().manual_seed(0)
    h, w = args.size
    images = [torch.randn(1, 3, h, w, generator=g)
              for _ in range(args.images)]
    labels = [[2 * i % 20, (2 * i + 7) % 20] for i in range(args.images)]

    def sample(label):
        s = DataSample().set_gt_label(label)
        s.set_metainfo(dict(img_shape=(h, w)))
        return s

    def run_predict(**kw):
        return [predict_cams(model, x, [sample(lb)], scales=scales, **kw)[0]
                for x, lb in zip(images, labels)]

    def run_previous():
        out = []
        with torch.no_grad():
            for x, lb in zip(images, labels):
                s4, hr = previous_multi_scale_cam(model.forward_cam, x, scales)
                keys = torch.tensor(sorted(lb))
                s = sample(lb)
                s.set_field(normalize_cams(s4[0, keys]), 'cam')
                s.set_field(normalize_cams(hr[0, keys]), 'high_res_cam')
                out.append(s)
        return out

    methods = dict(
        loop=lambda: run_predict(reference=True),
        flip_batched=run_previous,
        fast=lambda: run_predict(),
        fast_cl=lambda: run_predict(channels_last=True))
    run_predict()  # build the folded copies outside the timing
    run_predict(channels_last=True)
    times = {k: [] for k in methods}
    outputs = {}
    for _ in range(args.rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - start)

    med = {k: float(np.median(v)) for k, v in times.items()}
    n = args.images
    print(f'{type(model.backbone).__name__}-{model.backbone.depth}, '
          f'{n} images {h}x{w}, scales {scales} + flips, '
          f'{torch.get_num_threads()} threads, {args.rounds} rounds (median)')
    for name in methods:
        err = max(
            max((a.cam - b.cam).abs().max().item(),
                (a.high_res_cam - b.high_res_cam).abs().max().item())
            for a, b in zip(outputs[name], outputs['loop']))
        print(f'  {name:12s} {n / med[name]:7.3f} images/s '
              f'({med[name] / n:6.2f} s/image)  x{med["loop"] / med[name]:.2f}'
              f' vs loop  x{med["flip_batched"] / med[name]:.2f} vs '
              f'flip_batched  max|diff| {err:.1e}')


if __name__ == '__main__':
    main()
