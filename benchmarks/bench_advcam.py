"""Cost of AdvCAM per image against plain multi-scale CAMs, in one run.

The model is a CAM classifier built from a config (default
``configs/advcam/advcam_r18_gen.py``: the generated-data ResNet-18, output
stride 16, 20 classes), random weights with non-negative class weights (so
the CAMs are alive), eval mode. Each image goes through the test mode one at
a time (the test configs use batch size 1), with the config's scales and
flips and ``--classes`` ground-truth classes per image. Methods:

- ``cam``: plain multi-scale CAMs, the ``MultiScaleCAM`` generator
  (:func:`mmc2am.cam.predict_cams`: flip batched);
- ``advcam``: the config's CAM generator (``model.test_cfg.cam_generator``:
  ``AdvCAM`` with the published settings, 27 steps, 13 at scale 0.5), the
  image's classes climbing in one batch;
- ``advcam_per_class``: the same, one class at a time (``class_chunk=1``),
  as the reference loops;
- ``advcam_batch``: the same generator given ``--batch`` images per call
  (a test loader's ``batch_size``): the (image, class) rows of the batch
  climb together.

Rounds alternate the methods on the same images; the median time of each is
reported, with the ratio to ``cam`` and the number of forward+backward
passes AdvCAM runs per image. ``advcam_per_class`` and ``advcam_batch`` must
give the same maps as ``advcam`` (max abs difference printed).

    python benchmarks/bench_advcam.py [--size 64 64] [--images 1]
        [--classes 2] [--rounds 1] [--batch 8]
        [--methods cam advcam advcam_per_class advcam_batch]
        [--config configs/advcam/advcam_r18_gen.py]

(about 10 min on a shared 2-core CPU with the defaults: AdvCAM costs two
orders of magnitude more than the CAMs it is compared with)
"""
import argparse
import time

import numpy as np
import torch


def build_model(config, device):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmc2am  # noqa: F401
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.backbone.init_cfg = None  # no download
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        model.head.conv.weight.abs_()
    return model.to(device).eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/advcam/advcam_r18_gen.py')
    parser.add_argument('--size', type=int, nargs=2, default=(64, 64))
    parser.add_argument('--images', type=int, default=1)
    parser.add_argument('--classes', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=8,
                        help='images per call of advcam_batch')
    parser.add_argument(
        '--methods', nargs='+',
        choices=('cam', 'advcam', 'advcam_per_class', 'advcam_batch'),
        default=('cam', 'advcam', 'advcam_per_class', 'advcam_batch'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from mmpretrain.structures import DataSample

    from mmc2am.models.cam_generators import AdvCAM, MultiScaleCAM
    model = build_model(args.config, args.device)
    advcam = model.cam_generator
    if not isinstance(advcam, AdvCAM):
        raise SystemExit(f'{args.config}: model.test_cfg.cam_generator is '
                         f'{type(advcam).__name__}, not AdvCAM')
    # the same generator, one class at a time
    per_class = model.build_cam_generator(
        dict(model.test_cfg, cam_generator=dict(
            model.test_cfg['cam_generator'], class_chunk=1)))
    cam = MultiScaleCAM(advcam.scales, advcam.flip)
    g = torch.Generator().manual_seed(0)
    h, w = args.size
    images = [torch.randn(1, 3, h, w, generator=g).to(args.device)
              for _ in range(args.images)]
    labels = [[(3 * i + 5 * k) % 20 for k in range(args.classes)]
              for i in range(args.images)]

    def sample(label):
        s = DataSample().set_gt_label(label)
        s.set_metainfo(dict(img_shape=(h, w)))
        return s

    def sync():
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()

    def run(generator):
        out = [generator(model, x, [sample(lb)])[0]
               for x, lb in zip(images, labels)]
        sync()
        return out

    def run_batched(generator):
        out = []
        for i in range(0, len(images), args.batch):
            x = torch.cat(images[i:i + args.batch])
            out += generator(model, x, [sample(lb) for lb in
                                        labels[i:i + args.batch]])
        sync()
        return out

    methods = dict(
        cam=lambda: run(cam),
        advcam=lambda: run(advcam),
        advcam_per_class=lambda: run(per_class),
        advcam_batch=lambda: run_batched(advcam))
    methods = {k: v for k, v in methods.items()
               if k in ('cam', 'advcam') or k in args.methods}
    run(cam)  # warm up outside the timing
    times = {k: [] for k in methods}
    outputs = {}
    for _ in range(args.rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - start)

    med = {k: float(np.median(v)) for k, v in times.items()}
    n = args.images
    iters = advcam.iters
    passes = sum(iters) * args.classes * (2 if advcam.flip else 1)
    errs = {
        k: max((a.high_res_cam - b.high_res_cam).abs().max().item()
               for a, b in zip(outputs[k], outputs['advcam']))
        for k in ('advcam_per_class', 'advcam_batch') if k in outputs}
    print(f'{type(model.backbone).__name__}-{model.backbone.depth} '
          f'({args.config}), {n} images {h}x{w}, {args.classes} classes each, '
          f'scales {advcam.scales} flip={advcam.flip}, AdvCAM '
          f'steps {tuple(iters)}: {passes} image forward+backward passes per '
          f'image; {args.device}, {torch.get_num_threads()} threads, '
          f'{args.rounds} rounds (median), advcam_batch {args.batch} '
          f'images per call')
    for name in methods:
        print(f'  {name:17s} {med[name] / n:8.3f} s/image  '
              f'x{med[name] / med["cam"]:7.1f} vs cam')
    for k, err in errs.items():
        print(f'  {k} vs advcam: max|diff| of the maps {err:.1e}')


if __name__ == '__main__':
    main()
