"""Images per second of CAM inference: the per-scale loop vs what runs.

The model is the project's CAM classifier built from a config (default
``configs/cam/cam_r50_voc.py``: IRN's ResNet-50, output stride 16, 20
classes), random weights with randomised BatchNorm statistics, eval mode,
CPU. Each image goes through ``predict_cams`` one at a time (the test
configs use batch size 1) with IRN's scales (1.0, 0.5, 1.5, 2.0) and flips,
two ground-truth classes per image. Methods:

- ``loop``: one forward per scale and per flip, every class resized
  (``predict_cams(..., reference=True)``, IRN's ``make_cam.py``);
- ``batched``: ``predict_cams`` as the test runs use it: the flip in the
  batch of each scale, only the ground-truth classes resized;
- ``batched_fused``: ``batched`` on a copy of the model with its BatchNorm
  folded into the convolutions by mmcv's ``fuse_conv_bn``, made once
  (:func:`mmc2am.cam.inference_cam_fn`, as ``GlobalCAMHook`` uses it).

One repeat alternates the methods round by round on the same images and
takes the median of each; ``--repeats`` (3) repeats that and prints each
ratio's median and [min - max] over the repeats, with the CPU time next to
the wall time, the conditions (threads, denormal flushing, load average
before and after) and a check for denormal activations. Every method's CAMs
are checked against ``loop``.

    python benchmarks/bench_cam_inference.py [--size 192 256] [--images 2]
        [--rounds 3] [--repeats 3] [--threads 2] [--flush-denormal]
"""
import argparse
import time

import numpy as np
import torch
from conditions import conditions, load_now, spread


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


def denormal_fraction(model, x) -> float:
    """Share of the non-zero activations (conv / BN outputs) below float32's
    smallest normal number, on one forward of ``x``."""
    tiny = torch.finfo(torch.float32).tiny
    counts = [0, 0]

    def hook(_m, _i, out):
        nz = out.detach()[out != 0].abs()
        counts[0] += int((nz < tiny).sum())
        counts[1] += nz.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
    with torch.no_grad():
        model.forward_cam(x)
    for h in handles:
        h.remove()
    return counts[0] / max(counts[1], 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/cam/cam_r50_voc.py')
    parser.add_argument('--size', type=int, nargs=2, default=(192, 256))
    parser.add_argument('--images', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--flush-denormal', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)

    from mmpretrain.structures import DataSample

    from mmc2am.cam import inference_cam_fn, predict_cams
    model = build_model(args.config)
    fused = inference_cam_fn(model).__self__
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

    def run(m, **kw):
        return [predict_cams(m, x, [sample(lb)], scales=scales, **kw)[0]
                for x, lb in zip(images, labels)]

    methods = dict(
        loop=lambda: run(model, reference=True),
        batched=lambda: run(model),
        batched_fused=lambda: run(fused))
    print(conditions(args.flush_denormal))
    print(f'{type(model.backbone).__name__}-{model.backbone.depth}, '
          f'{args.images} images {h}x{w}, scales {scales} + flips; '
          f'denormal activations {denormal_fraction(model, images[0]):.1e}')
    run(model)  # warm-up
    wall = {k: [] for k in methods}  # per repeat: median s per image
    cpu = {k: [] for k in methods}
    outputs = {}
    for _ in range(args.repeats):
        times = {k: ([], []) for k in methods}
        for _ in range(args.rounds):
            for name, fn in methods.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                outputs[name] = fn()
                times[name][0].append(time.perf_counter() - start)
                times[name][1].append(time.process_time() - start_cpu)
        for name, (t, c) in times.items():
            wall[name].append(float(np.median(t)) / args.images)
            cpu[name].append(float(np.median(c)) / args.images)
    print(f'{args.repeats} repeats x {args.rounds} rounds; median [min - max] '
          'over the repeats; load average after:', load_now())
    for name in methods:
        err = max(
            max((a.cam - b.cam).abs().max().item(),
                (a.high_res_cam - b.high_res_cam).abs().max().item())
            for a, b in zip(outputs[name], outputs['loop']))
        vs_wall = [lw / mw for lw, mw in zip(wall['loop'], wall[name])]
        vs_cpu = [lc / mc for lc, mc in zip(cpu['loop'], cpu[name])]
        ips = [1 / v for v in wall[name]]
        print(f'  {name:14s} {spread(ips, "{:.3f}")} images/s, '
              f'{spread(cpu[name])} CPU s/image; vs loop: wall '
              f'x{spread(vs_wall)}, CPU x{spread(vs_cpu)}; max|diff| '
              f'{err:.1e}')


if __name__ == '__main__':
    main()
