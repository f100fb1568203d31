"""Cost of the front-door adjustment: one training step, front-door vs plain head.

Same model (CAMClassifier, ResNet-50 by default, random init: no download),
same batch, same optimizer; the variants are run round-robin, step after
step, so load changes on the machine hit them alike, and the median step time
of each (wall and process CPU time) is reported with its ratio to the plain
head, together with the cost of the head alone (loss forward + backward from
fixed features), the only part that differs:

- ``plain``: ``adjustment=None`` (multilabel soft-margin on the GAP logits);
- ``front_door``: CausalCAMHead's C2AM form, ``z_c * mean_hw(G_c)``;
- ``front_door_literal``: the reference's literal
  ``mean_hw(z[:, :, None, None] * G)`` over the (B, C, S, S) product, for
  comparison (same values);
- ``front_door_spatial``: the logit map pooled with ``G_c`` as weights.

Example (the figure in benchmarks/README.md)::

    python benchmarks/bench_head_step.py --depth 50 --batch 8 --size 256 \
        --steps 12 --threads 2
"""
import argparse
import copy
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.optim import OptimWrapper  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import mmc2am  # noqa: E402,F401
from mmc2am.models import CausalCAMHead  # noqa: E402


class LiteralFrontDoorHead(CausalCAMHead):
    """The reference's form: the (B, C, S, S) product, then the mean."""

    def adjusted_scores(self, feats, target=None):
        z = self(feats)
        return (z[:, :, None, None] * self.global_cam).mean(dim=(2, 3))


def build(depth: int, adjustment, literal: bool = False):
    torch.manual_seed(0)
    in_channels = 512 if depth in (18, 34) else 2048
    model = MODELS.build(
        dict(
            type='mmc2am.CAMClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor', num_classes=20,
                mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                to_rgb=True, to_onehot=True),
            backbone=dict(type='ResNet', depth=depth, strides=(1, 2, 2, 1),
                          out_indices=(3, ), frozen_stages=2, norm_eval=True),
            head=dict(type='mmc2am.CausalCAMHead', num_classes=20,
                      in_channels=in_channels, adjustment=adjustment)))
    if literal:
        head = LiteralFrontDoorHead(num_classes=20, in_channels=in_channels,
                                    adjustment='front_door')
        head.conv = model.head.conv
        model.head = head
    g = torch.Generator().manual_seed(1)
    model.head.set_global_cam(torch.rand(20, 128, 128, generator=g))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--steps', type=int, default=12)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--head-reps', type=int, default=50)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads (0: leave the default)')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    variants = {
        'plain': build(args.depth, None),
        'front_door': build(args.depth, 'front_door'),
        'front_door_literal': build(args.depth, 'front_door', literal=True),
        'front_door_spatial': build(args.depth, 'front_door_spatial'),
    }
    # identical starting weights (the head init draws differ otherwise)
    state = copy.deepcopy(variants['plain'].state_dict())
    optims = {}
    for name, model in variants.items():
        keep = model.head.global_cam.clone()
        model.load_state_dict(state)
        model.head.set_global_cam(keep)
        model.to(args.device).train()
        optims[name] = OptimWrapper(
            torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))

    g = torch.Generator().manual_seed(2)
    inputs = [torch.randint(0, 256, (3, args.size, args.size), generator=g,
                            dtype=torch.uint8) for _ in range(args.batch)]
    labels = [torch.randperm(20, generator=g)[:2] for _ in range(args.batch)]

    def batch():
        return dict(inputs=list(inputs),
                    data_samples=[DataSample().set_gt_label(lb)
                                  for lb in labels])

    def sync():
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()

    # Wall time, and process CPU time: on a shared machine the scheduler
    # adds seconds of noise to the wall time of a step; with one thread the
    # CPU time is the work done.
    wall = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    for step in range(args.warmup + args.steps):
        for name, model in variants.items():
            data = batch()
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            model.train_step(data, optims[name])
            sync()
            if step >= args.warmup:
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)

    # The head alone (loss forward + backward from fixed features), repeated:
    # the only part that differs between the variants.
    feats_shape = variants['plain'].extract_feat(
        variants['plain'].data_preprocessor(batch(), True)['inputs'])[-1].shape
    head_cpu = {}
    targets = [DataSample().set_gt_label(lb) for lb in labels]
    for name, model in variants.items():
        f = torch.randn(feats_shape, device=args.device, requires_grad=True)
        reps = []
        for _ in range(args.head_reps):
            sync()
            c0 = time.process_time()
            model.head.loss((f, ), targets)['loss'].backward()
            sync()
            reps.append(time.process_time() - c0)
        head_cpu[name] = statistics.median(reps)

    def ratios(times):
        base = statistics.median(times['plain'])
        return {k: round(statistics.median(v) / base, 4)
                for k, v in times.items()}

    step_cpu = statistics.median(cpu['plain'])
    result = dict(
        depth=args.depth, batch=args.batch, size=args.size, steps=args.steps,
        device=args.device, threads=torch.get_num_threads(),
        feature_shape=list(feats_shape),
        median_wall_s={k: round(statistics.median(v), 4)
                       for k, v in wall.items()},
        median_cpu_s={k: round(statistics.median(v), 4)
                      for k, v in cpu.items()},
        ratio_to_plain_wall=ratios(wall),
        ratio_to_plain_cpu=ratios(cpu),
        head_only_cpu_ms={k: round(v * 1e3, 3) for k, v in head_cpu.items()},
        # plain step + (this head - plain head): the step ratio without the
        # noise of timing two whole steps
        ratio_to_plain_from_head={
            k: round((step_cpu + v - head_cpu['plain']) / step_cpu, 5)
            for k, v in head_cpu.items()
        })
    # the per-class-scale form equals the literal reference form
    with torch.no_grad():
        feats = (torch.randn(2, variants['plain'].head.in_channels, 8, 8), )
        fd, lit = variants['front_door'].head, variants['front_door_literal'].head
        lit.load_state_dict(fd.state_dict())
        result['max_abs_diff_front_door_vs_literal'] = float(
            (fd.adjusted_scores(feats) - lit.adjusted_scores(feats)).abs().max())
        assert F.mse_loss(fd.adjusted_scores(feats),
                          lit.adjusted_scores(feats)) < 1e-10
    print(json.dumps(result, indent=1))


if __name__ == '__main__':
    main()
