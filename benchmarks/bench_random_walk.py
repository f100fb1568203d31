"""Sparse vs dense random walk (IRN) on one image: peak memory, time, output.

Usage::

    python benchmarks/bench_random_walk.py [--size 512] [--threads 1]
        [--classes 3] [--repeats 3] [--skip-dense] [--flush-denormal]
        [--out results.json]

The image is ``size x size``; the walk runs on its stride-4 grid
(``size / 4`` squared nodes, 16,384 at 512). Inputs are synthetic but
shaped like real ones: a boundary map with ridges between random regions
(blurred, plus noise) and ``--classes`` CAMs that are smooth blobs.

- ``sparse``: :func:`mmc2am.cam.random_walk.random_walk` (CSR transition
  matrix, ``2 ** exp_times`` sparse products).
- ``dense``: :func:`mmc2am.cam.random_walk.random_walk_dense`, IRN's
  formulation (dense ``N x N`` affinity, transition matrix squared
  ``exp_times`` times, one product).

Each method runs in its own fresh process (so one cannot inherit the other's
freed memory) with the same torch thread count. Peak memory is the peak
resident set size (Linux ``VmHWM``) during the call minus the resident size
just before it: the high-water mark is reset by writing ``5`` to
``/proc/self/clear_refs`` after the inputs are built and a warm-up call on an
8 x 8 grid, so imports, inputs and one-time library set-up are not counted.
Time is the wall clock and the CPU time of the call (the CPU time is the
robust figure on a shared machine; with one thread it is the wall time of an
idle one). Both include the affinity computation from the boundary map.
The outputs are compared (max abs difference of the walked maps; agreement
of the pseudo-mask labels after IRN's upsampling, normalisation and
background threshold 0.25). Each method is run ``--repeats`` times (3), each
in a fresh process; the median and [min - max] are printed with the
conditions (threads, denormal flushing, load average before and after).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from conditions import conditions, load_now, spread


def make_inputs(size: int, num_classes: int, seed: int = 0):
    """Synthetic (C, h, w) CAMs and (h, w) boundary map on the stride-4 grid."""
    g = torch.Generator().manual_seed(seed)
    h = w = (size + 3) // 4
    # random regions (nearest of 12 seeds), ridges where the region changes
    seeds = torch.rand(12, 2, generator=g) * torch.tensor([h, w])
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    dist = ((yy[None] - seeds[:, 0, None, None])**2 +
            (xx[None] - seeds[:, 1, None, None])**2)
    region = dist.argmin(0)
    ridge = torch.zeros(h, w)
    ridge[:, 1:] += (region[:, 1:] != region[:, :-1]).float()
    ridge[1:, :] += (region[1:, :] != region[:-1, :]).float()
    ridge = F.avg_pool2d(ridge.clamp(max=1)[None, None], 3, 1, 1)[0, 0]
    edge = (ridge * 2 + 0.05 * torch.rand(h, w, generator=g)).clamp(0, 1)
    cams = []
    for c in range(num_classes):
        cy, cx = seeds[c]
        blob = torch.exp(-((yy - cy)**2 + (xx - cx)**2) / (2 * (h / 8)**2))
        cams.append(blob / blob.max())
    return torch.stack(cams), edge


def _status_kib(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def worker(args) -> None:
    """Run one method in this process and print a JSON line of results."""
    from mmc2am.cam.random_walk import random_walk, random_walk_dense

    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    cams, edge = make_inputs(args.size, args.classes)
    fn = dict(sparse=random_walk, dense=random_walk_dense)[args.worker]
    # warm-up on a tiny grid: one-time library and thread-pool set-up is
    # not what is being measured
    fn(cams[:, :8, :8], edge[:8, :8], beta=args.beta, exp_times=1,
       radius=args.radius)
    before = _status_kib('VmRSS')
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset VmHWM to the current RSS
        hwm_reset = True
    except OSError:
        hwm_reset = False
    start, cpu_start = time.perf_counter(), time.process_time()
    out = fn(cams, edge, beta=args.beta, exp_times=args.exp_times,
             radius=args.radius)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    peak = _status_kib('VmHWM')
    np.save(args.save, out.numpy())
    print(json.dumps(dict(
        method=args.worker, seconds=seconds, cpu_seconds=cpu_seconds,
        peak_mib=(peak - before) / 1024, hwm_reset=hwm_reset,
        rss_before_mib=before / 1024)))


def labels_of(rw: np.ndarray, size: int, bg_thr: float = 0.25) -> np.ndarray:
    """IRN's labels from walked maps: upsample x4, / max, background plane
    (:func:`mmc2am.cam.random_walk.scores_to_labels`)."""
    from mmc2am.cam.random_walk import scores_to_labels
    up = F.interpolate(torch.from_numpy(rw)[None], scale_factor=4,
                       mode='bilinear', align_corners=False)[0, :, :size,
                                                             :size]
    return scores_to_labels(up / up.max(), range(len(up)), bg_thr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=512, help='image side')
    parser.add_argument('--classes', type=int, default=3)
    parser.add_argument('--radius', type=float, default=5)
    parser.add_argument('--beta', type=float, default=10)
    parser.add_argument('--exp-times', type=int, default=8)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads of each method')
    parser.add_argument('--skip-dense', action='store_true')
    parser.add_argument('--repeats', type=int, default=3,
                        help='fresh-process runs of each method')
    parser.add_argument(
        '--flush-denormal', action='store_true',
        help='flush denormal floats to zero in both methods (the powers of '
        'T underflow into denormals, which are slow on x86 CPUs)')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--worker', choices=['sparse', 'dense'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--save', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    n = ((args.size + 3) // 4)**2
    torch.set_num_threads(args.threads)  # for the conditions line
    print(conditions(args.flush_denormal))
    print(f'image {args.size}x{args.size}: {n} nodes; a dense N x N float32 '
          f'matrix is {n * n * 4 / 2**30:.2f} GiB', flush=True)
    methods = ['sparse'] + ([] if args.skip_dense else ['dense'])
    runs, outputs = {m: [] for m in methods}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for method in methods:
                save = os.path.join(tmp, f'{method}.npy')
                cmd = [sys.executable, os.path.abspath(__file__), '--worker',
                       method, '--save', save]
                for key in ('size', 'classes', 'radius', 'beta', 'exp_times',
                            'threads'):
                    cmd += [f'--{key.replace("_", "-")}',
                            str(getattr(args, key))]
                if args.flush_denormal:
                    cmd.append('--flush-denormal')
                proc = subprocess.run(cmd, check=True, capture_output=True,
                                      text=True)
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                runs[method].append(res)
                outputs[method] = np.load(save)
                print(f'{method:6s}: {res["seconds"]:9.2f} s wall, '
                      f'{res["cpu_seconds"]:9.2f} s CPU, peak '
                      f'{res["peak_mib"]:9.1f} MiB', flush=True)
    print(f'{args.repeats} runs each, median [min - max]; load average after:'
          f' {load_now()}')
    results = {}
    for method, rs in runs.items():
        results[method] = {k: float(np.median([r[k] for r in rs]))
                           for k in ('seconds', 'cpu_seconds', 'peak_mib')}
        results[method]['runs'] = rs
        print(f'{method:6s}: wall {spread([r["seconds"] for r in rs])} s, '
              f'CPU {spread([r["cpu_seconds"] for r in rs])} s, peak '
              f'{spread([r["peak_mib"] for r in rs], "{:.1f}")} MiB')
    summary = dict(size=args.size, nodes=n, classes=args.classes,
                   radius=args.radius, beta=args.beta,
                   steps=2**args.exp_times, threads=args.threads,
                   flush_denormal=args.flush_denormal,
                   results=results)
    if 'dense' in outputs:
        s, d = outputs['sparse'], outputs['dense']
        ls, ld = labels_of(s, args.size), labels_of(d, args.size)
        summary.update(
            max_abs_diff=float(np.abs(s - d).max()),
            max_value=float(np.abs(d).max()),
            label_agreement=float((ls == ld).mean()),
            time_ratio=results['sparse']['seconds'] /
            results['dense']['seconds'],
            cpu_time_ratio=results['sparse']['cpu_seconds'] /
            results['dense']['cpu_seconds'],
            memory_ratio=results['sparse']['peak_mib'] /
            results['dense']['peak_mib'])
        print(f'sparse / dense: wall time {summary["time_ratio"]:.4f}x, '
              f'CPU time {summary["cpu_time_ratio"]:.4f}x, peak '
              f'memory {summary["memory_ratio"]:.4f}x; max |diff| '
              f'{summary["max_abs_diff"]:.2e} (max value '
              f'{summary["max_value"]:.3f}); labels equal on '
              f'{100 * summary["label_agreement"]:.3f}% of pixels')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=2)


if __name__ == '__main__':
    main()
