"""Training step: mmc2am's CAM classifier vs a plain-PyTorch equivalent (issue 15).

Both sides are the same network with the same weights, the same batch and the
same optimizer, timed in one run, round-robin step after step (the order
rotates every round), median of ``--steps`` steps after ``--warmup``:

- ``plain``: written here. torchvision ResNet-50 with layer4's stride set to 1
  (output stride 16), stem + layer1 + layer2 run under ``no_grad`` (IRN's
  ``stage2(x).detach()``), every BatchNorm in eval mode (IRN's frozen BN),
  global average pooling, 1x1 conv without bias, multilabel soft-margin loss,
  ``torch.optim.SGD`` with two groups (backbone lr, head lr x ``lr_mult``),
  lr / momentum / weight decay read from the config. The batch arrives as
  one uint8 (B, 3, H, W) tensor (what a plain ``DataLoader`` collates) and
  is moved to the device and normalised there, inside the timed step.
- ``mmc2am ...``: ``CAMClassifier`` built from ``configs/cam/cam_r50_voc.py``
  (``backbone.init_cfg=None``: no download), its optimizer wrapper built
  from the config's ``optim_wrapper`` by ``build_optim_wrapper`` (with AMP:
  ``type='AmpOptimWrapper', loss_scale='dynamic'``, as ``tools/train.py
  --amp`` does), stepped with ``model.train_step(data, optim_wrapper)``;
  ``data`` is what the dataloader gives: uint8 BGR images and
  ``DataSample``s with ``gt_label``, so the data preprocessor is timed too.

mmc2am variants (the table's rows), to attribute the time:

- ``config``: as configured: ``pseudo_collate`` (a list of images, the
  default collate of the runner), mmengine's default optimizer constructor
  (one param group per parameter: 88 groups);
- ``+compact``: ``constructor='CompactOptimWrapperConstructor'`` (2 groups);
- ``+compact+collate``: also ``collate_fn=dict(type='default_collate')`` (one
  stacked uint8 tensor, as the plain side gets);
- ``+compact+collate+prep``: also ``data_preprocessor.type=
  'CAMDataPreprocessor'`` (multi-hot targets built on the host);
- ``+...+pin`` (CUDA only): also a ``pin_memory=True`` dataloader (pinned
  batch, pinned outside the timer as the loader's pin thread does) and
  ``data_preprocessor.non_blocking=True``; compare it with ``plain pin``,
  the plain step with the same pinned batch and ``non_blocking`` copies;
- ``front_door all fixes`` / ``front_door_spatial all fixes``: the two C2AM
  heads (random global CAM) with every fix above (``+pin`` on CUDA only);
- ``plain cl``: the plain network in ``channels_last`` (NHWC) memory
  format, to see whether the layout would help.

Precisions: ``fp32`` and ``amp`` (CUDA: float16 autocast + GradScaler on both
sides; CPU: bfloat16 autocast with ``--cpu-amp``; mmengine's
``AmpOptimWrapper`` refuses to run on CPU, so the CPU AMP rows use
``OptimWrapper`` inside a bf16 autocast on the mmc2am side).

Defaults: CPU batch 4, 224 x 224, 1 thread; CUDA batch 16, 512 x 512.

Examples::

    .venv/bin/python benchmarks/bench_train_step.py               # CPU
    python benchmarks/bench_train_step.py --device cuda          # GPU
"""
import argparse
import copy
import os
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmengine.config import Config  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import mmc2am  # noqa: E402,F401

# registers CompactOptimWrapperConstructor (also when mmc2am.engine does not
# import it yet)
import mmc2am.engine.optimizers  # noqa: E402,F401

CONFIG = os.path.join(ROOT, 'configs/cam/cam_r50_voc.py')
NUM_CLASSES = 20


class PlainCAMNet(nn.Module):
    """IRN's CAM network in plain PyTorch on torchvision's ResNet-50.

    Args:
        num_classes (int): Output classes.

    Shapes: (B, 3, H, W) normalised images -> (B, num_classes) logits.
    """

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        r = torchvision.models.resnet50(weights=None)
        # output stride 16: layer4 keeps the resolution (stride on the 3x3
        # conv and the shortcut, as torchvision / mmpretrain's 'pytorch' style)
        r.layer4[0].conv2.stride = (1, 1)
        r.layer4[0].downsample[0].stride = (1, 1)
        del r.fc
        self.resnet = r
        self.classifier = nn.Conv2d(2048, num_classes, 1, bias=False)
        for m in (r.conv1, r.bn1, r.layer1, r.layer2):
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> 'PlainCAMNet':
        super().train(mode)
        # IRN's FixedBatchNorm: statistics never updated
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.resnet
        with torch.no_grad():  # IRN: stage2(x).detach()
            x = r.layer2(r.layer1(r.maxpool(r.relu(r.bn1(r.conv1(x))))))
        x = r.layer4(r.layer3(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.classifier(x).flatten(1)


def build_mmc2am(cfg: Config, adjustment, cam_preprocessor: bool = False,
                 non_blocking: bool = False) -> nn.Module:
    """CAMClassifier from the config with random init (no download)."""
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    model_cfg.head.adjustment = adjustment
    if cam_preprocessor:
        model_cfg.data_preprocessor.type = 'CAMDataPreprocessor'
        model_cfg.data_preprocessor.non_blocking = non_blocking
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def optim_cfg(cfg: Config, amp: bool, compact: bool) -> Config:
    ow = copy.deepcopy(cfg.optim_wrapper)
    if amp:  # as tools/train.py --amp
        ow.type = 'AmpOptimWrapper'
        ow.loss_scale = 'dynamic'
    if compact:
        ow.constructor = 'CompactOptimWrapperConstructor'
    return ow


def profile_steps(step_fns: Dict[str, tuple], precision: str, cuda: bool,
                  out_dir: str, sync: Callable[[], None]) -> None:
    """One profiled step per network: kernel count, device busy time."""
    from torch.profiler import ProfilerActivity, profile
    os.makedirs(out_dir, exist_ok=True)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    for name in ('plain', 'plain pin', 'mmc2am config',
                 'mmc2am +compact+collate+prep',
                 'mmc2am +compact+collate+prep+pin', 'front_door all fixes'):
        if name not in step_fns:
            continue
        prepare, step = step_fns[name]
        data = prepare()
        sync()
        with profile(activities=acts) as prof:
            t0 = time.perf_counter()
            step(data)
            sync()
            wall = time.perf_counter() - t0
        ka = prof.key_averages()

        def dev(k):
            return getattr(k, 'self_device_time_total',
                           getattr(k, 'self_cuda_time_total', 0))

        busy = sum(dev(k) for k in ka) / 1e3
        launches = sum(k.count for k in ka
                       if k.key in ('cudaLaunchKernel', 'cuLaunchKernel',
                                    'cudaLaunchKernelExC'))
        copies = sum(dev(k) for k in ka if 'Memcpy' in k.key) / 1e3
        print(f'profile {precision} {name}: wall {wall * 1e3:.1f} ms (with '
              f'profiler), device busy {busy:.1f} ms (memcpy {copies:.1f}),'
              f' kernel launches {launches}')
        with open(os.path.join(out_dir, f'profile_{precision}.txt'),
                  'a') as f:
            f.write(f'\n==== {name} ====\n')
            f.write(ka.table(sort_by='self_cpu_time_total', row_limit=40))
            if cuda:
                f.write(ka.table(sort_by='self_cuda_time_total',
                                 row_limit=40))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default=None,
                        help="'cpu' or 'cuda' (default: cuda if available)")
    parser.add_argument('--batch', type=int, default=None)
    parser.add_argument('--size', type=int, default=None)
    parser.add_argument('--steps', type=int, default=None)
    parser.add_argument('--warmup', type=int, default=None)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (default 1: on a shared '
                        'machine a descheduled OpenMP thread stalls a '
                        'multi-threaded step, one thread keeps it steady)')
    parser.add_argument('--precisions', nargs='+', default=None,
                        choices=['fp32', 'amp'],
                        help='default: fp32 amp on CUDA, fp32 on CPU')
    parser.add_argument('--cpu-amp', action='store_true',
                        help='on CPU also time bf16 autocast')
    parser.add_argument('--variants', nargs='+', default=None,
                        help='subset of the row names to time')
    parser.add_argument('--profile-dir', default=None,
                        help='also profile one step of plain, mmc2am '
                        'and front_door variants per precision '
                        '(torch.profiler): summary printed, tables written '
                        'here')
    parser.add_argument('--cudnn-benchmark', action='store_true',
                        help='torch.backends.cudnn.benchmark = True (both '
                        'sides; env_cfg.cudnn_benchmark in a config)')
    args = parser.parse_args()

    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    cuda = device.startswith('cuda')
    batch = args.batch or (16 if cuda else 4)
    size = args.size or (512 if cuda else 224)
    steps = args.steps or (20 if cuda else 10)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 2)
    precisions = args.precisions or (['fp32', 'amp'] if cuda else
                                     ['fp32'] + (['amp'] if args.cpu_amp
                                                 else []))
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    MMLogger.get_current_instance().setLevel('ERROR')  # param-wise chatter
    init_default_scope('mmc2am')  # the config's
    cfg = Config.fromfile(CONFIG)
    opt = cfg.optim_wrapper.optimizer
    head_mult = cfg.optim_wrapper.paramwise_cfg.custom_keys['head'].lr_mult

    # ------------------------------------------------------------------ #
    # networks, all with the same weights
    # ------------------------------------------------------------------ #
    # mmc2am variants: name -> (adjustment, compact, default_collate,
    # CAMDataPreprocessor, pinned + non_blocking)
    specs = {
        'mmc2am config': (None, False, False, False, False),
        'mmc2am +compact': (None, True, False, False, False),
        'mmc2am +compact+collate': (None, True, True, False, False),
        'mmc2am +compact+collate+prep': (None, True, True, True, False),
    }
    all_fixes = (True, True, True, cuda)
    if cuda:
        specs['mmc2am +compact+collate+prep+pin'] = (None, ) + all_fixes
    specs['front_door all fixes'] = ('front_door', ) + all_fixes
    specs['front_door_spatial all fixes'] = (
        'front_door_spatial', ) + all_fixes
    # plain variants: name -> (channels_last, pinned + non_blocking)
    plain_specs = {'plain': (False, False), 'plain cl': (True, False)}
    if cuda:
        plain_specs['plain pin'] = (False, True)
    if args.variants:
        specs = {k: v for k, v in specs.items() if k in args.variants}
        plain_specs = {k: v for k, v in plain_specs.items()
                       if k in args.variants or k == 'plain'}
    torch.manual_seed(0)
    ref = build_mmc2am(cfg, None)
    with torch.no_grad():  # non-trivial frozen BN statistics
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    state = copy.deepcopy(ref.state_dict())
    g = torch.Generator().manual_seed(1)
    global_cam = torch.rand(NUM_CLASSES, 128, 128, generator=g)

    models: Dict[str, nn.Module] = {}
    for name, (adj, _, _, prep, pin) in specs.items():
        models[name] = build_mmc2am(cfg, adj, prep, pin)
    for name, (cl, _) in plain_specs.items():
        m = PlainCAMNet()
        backbone = {k[len('backbone.'):]: v for k, v in state.items()
                    if k.startswith('backbone.')}
        missing, unexpected = m.resnet.load_state_dict(backbone, strict=False)
        assert not missing and not unexpected, (missing, unexpected)
        m.classifier.weight.data.copy_(state['head.conv.weight'])
        if cl:
            m = m.to(memory_format=torch.channels_last)
        models[name] = m

    # ------------------------------------------------------------------ #
    # one batch: uint8 BGR images (mmcv loads BGR) and image labels
    # ------------------------------------------------------------------ #
    images = [torch.randint(0, 256, (3, size, size), generator=g,
                            dtype=torch.uint8) for _ in range(batch)]
    labels = [torch.randperm(NUM_CLASSES, generator=g)[:1 + i % 3]
              for i in range(batch)]
    onehot = torch.zeros(batch, NUM_CLASSES)
    for i, lb in enumerate(labels):
        onehot[i, lb] = 1
    # the plain loader reads RGB: the same pixels in RGB order, stacked
    plain_images = torch.stack(images).flip(1).contiguous()
    mean = torch.tensor(cfg.model.data_preprocessor.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.model.data_preprocessor.std).view(1, 3, 1, 1)
    mean, std = mean.to(device), std.to(device)

    stacked = torch.stack(images)
    # pin_memory=True loaders hand over pinned batches
    pinned = dict(mm=stacked.pin_memory(), plain=plain_images.pin_memory(),
                  onehot=onehot.pin_memory()) if cuda else {}

    def mm_data(default_collate: bool, pin: bool) -> dict:
        # what the dataloader hands to train_step (collated by its workers,
        # so built before the timer starts): fresh samples every step, as the
        # data preprocessor writes gt_score into them
        if default_collate:
            inputs = pinned['mm'] if pin else stacked
        else:
            inputs = list(images)
        return dict(inputs=inputs,
                    data_samples=[DataSample().set_gt_label(lb)
                                  for lb in labels])

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    amp_dtype = torch.float16 if cuda else torch.bfloat16

    def make_steps(precision: str) -> Dict[str, tuple]:
        """Fresh weights and optimizers for every network.

        Returns name -> (prepare, step): ``prepare()`` builds the step's input
        (not timed), ``step(data)`` runs one training step and returns the
        loss.
        """
        no_data: Callable[[], None] = lambda: None  # noqa: E731
        amp = precision == 'amp'
        step_fns = {}
        for name, model in models.items():
            if name in plain_specs:
                model.resnet.load_state_dict(
                    {k[len('backbone.'):]: v for k, v in state.items()
                     if k.startswith('backbone.')}, strict=False)
                model.classifier.weight.data.copy_(state['head.conv.weight'])
                model.to(device).train()
                groups = [
                    dict(params=[p for p in model.resnet.parameters()
                                 if p.requires_grad]),
                    dict(params=list(model.classifier.parameters()),
                         lr=opt.lr * head_mult),
                ]
                sgd = torch.optim.SGD(groups, lr=opt.lr,
                                      momentum=opt.momentum,
                                      weight_decay=opt.weight_decay)
                scaler = torch.amp.GradScaler('cuda') if amp and cuda \
                    else None
                cl, pin = plain_specs[name]
                src = ((pinned['plain'], pinned['onehot']) if pin else
                       (plain_images, onehot))

                def plain_step(data, model=model, sgd=sgd, scaler=scaler,
                               cl=cl, pin=pin, src=src):
                    x = src[0].to(device, non_blocking=pin).float()
                    x = (x - mean) / std
                    if cl:
                        x = x.contiguous(memory_format=torch.channels_last)
                    y = src[1].to(device, non_blocking=pin)
                    with torch.autocast(device.split(':')[0], amp_dtype,
                                        enabled=amp):
                        loss = F.multilabel_soft_margin_loss(model(x), y)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(sgd)
                        scaler.update()
                    else:
                        loss.backward()
                        sgd.step()
                    sgd.zero_grad(set_to_none=True)
                    return loss.detach()

                step_fns[name] = (no_data, plain_step)
                continue
            adj, compact, collate, _, pin = specs[name]
            model.load_state_dict(state, strict=False)
            if adj is not None:
                model.head.set_global_cam(global_cam)
            model.to(device).train()
            if amp and not cuda:
                # AmpOptimWrapper asserts a GPU; bf16 autocast around the
                # plain wrapper instead (CPU only)
                ow = build_optim_wrapper(model, optim_cfg(cfg, False,
                                                          compact))

                def mm_step(data, model=model, ow=ow):
                    with torch.autocast('cpu', torch.bfloat16):
                        out = model.train_step(data, ow)
                    return out['loss'].detach()
            else:
                ow = build_optim_wrapper(model, optim_cfg(cfg, amp, compact))

                def mm_step(data, model=model, ow=ow):
                    return model.train_step(data, ow)['loss'].detach()

            step_fns[name] = (lambda c=collate, p=pin: mm_data(c, p), mm_step)
        return step_fns

    load0 = os.getloadavg()
    print(f'conditions: device={device}'
          + (f' ({torch.cuda.get_device_name()})' if cuda else
             f' ({platform.processor() or platform.machine()})')
          + f', torch {torch.__version__}, torchvision '
          f'{torchvision.__version__}, threads={torch.get_num_threads()}, '
          f'cudnn.benchmark={torch.backends.cudnn.benchmark}, '
          f'batch {batch} x 3 x {size} x {size}, median of {steps} steps '
          f'after {warmup} warm-up, round-robin; SGD lr {opt.lr} (head x'
          f'{head_mult}) momentum {opt.momentum} wd {opt.weight_decay}; '
          f'load average at start {load0[0]:.2f} {load0[1]:.2f} '
          f'{load0[2]:.2f}', flush=True)

    rows: List[tuple] = []
    for precision in precisions:
        step_fns = make_steps(precision)
        names = list(step_fns)
        times: Dict[str, List[float]] = {n: [] for n in names}
        cpu_times: Dict[str, List[float]] = {n: [] for n in names}
        first_loss: Dict[str, float] = {}
        for r in range(warmup + steps):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                prepare, step = step_fns[name]
                data = prepare()
                sync()
                t0, c0 = time.perf_counter(), time.process_time()
                loss = step(data)
                sync()
                dt = time.perf_counter() - t0
                dc = time.process_time() - c0
                if r == 0:
                    first_loss[name] = float(loss)
                if r >= warmup:
                    times[name].append(dt)
                    cpu_times[name].append(dc)
        base = statistics.median(times['plain'])
        cbase = statistics.median(cpu_times['plain'])
        for name in names:
            med = statistics.median(times[name])
            cmed = statistics.median(cpu_times[name])
            # the plain step fed the same way (pinned or not)
            pin = (specs[name][4] if name in specs else plain_specs[name][1])
            match = statistics.median(
                times['plain pin' if pin and 'plain pin' in times
                      else 'plain'])
            rows.append((precision, name, med * 1e3, batch / med, med / base,
                         base / med, match / med, cmed * 1e3, cmed / cbase,
                         first_loss[name]))
        if args.profile_dir:
            profile_steps(step_fns, precision, cuda, args.profile_dir, sync)
        if cuda:
            torch.cuda.empty_cache()
    load1 = os.getloadavg()

    print(f'load average at end {load1[0]:.2f} {load1[1]:.2f} '
          f'{load1[2]:.2f}')
    # process CPU time: on a shared CPU machine the work done, without the
    # time the scheduler gave to other jobs (with CUDA: the host's share)
    print('| precision | variant | ms / step | images/s | step time / plain '
          '| images/s / plain | images/s / plain fed alike | CPU ms / step '
          '| CPU time / plain | first-step loss |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for p, n, ms, ips, tr, sr, mr, cms, cr, fl in rows:
        print(f'| {p} | {n} | {ms:.1f} | {ips:.1f} | {tr:.3f} | {sr:.3f} '
              f'| {mr:.3f} | {cms:.1f} | {cr:.3f} | {fl:.5f} |')


if __name__ == '__main__':
    main()
