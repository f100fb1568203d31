"""Make mmengine runners work under PyTorch's launcher on machines without CUDA.

mmengine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device``
unconditionally and its runner wraps the model with
``device_ids=[LOCAL_RANK]``; both fail on a CPU-only machine. mmseg configs
also use SyncBN, which has no CPU kernel. :func:`prepare_cfg_for_device` fixes
all three before the runner is built, and leaves CUDA runs untouched (NCCL,
SyncBN, device ids as mmseg does). Remove it when mmengine handles CPU
process groups itself.
"""
import logging
import os
import subprocess
import sys
from typing import Any

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log


def _replace_syncbn(node: Any) -> int:
    """Turn every ``type='SyncBN'`` dict in a config tree into plain ``BN``."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_syncbn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_syncbn(value)
    return count


def _slurm_env_to_torchrun_env(port: str) -> None:
    """Export the variables ``init_process_group('env://')`` reads, from Slurm's."""
    node_list = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ.setdefault('MASTER_PORT', port)
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']


def init_cpu_dist(launcher: str) -> None:
    """Initialise a gloo process group for ``launcher`` on a CPU-only machine."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        _slurm_env_to_torchrun_env(os.environ.get('PORT', '29500'))
    elif launcher != 'pytorch':
        raise ValueError(f'launcher {launcher!r} is not supported without CUDA; '
                         'use "pytorch" (torchrun) or "slurm"')
    torch_dist.init_process_group(backend='gloo')


def prepare_cfg_for_device(cfg: Config) -> Config:
    """Adapt ``cfg`` (with ``cfg.launcher`` set) to a CPU-only machine.

    Without CUDA and with a launcher other than ``'none'``: a gloo process
    group is initialised here (so the runner skips its own ``init_dist``),
    the DDP wrapper gets ``device_ids=None`` and SyncBN becomes BN (a single
    process run needs nothing: mmengine reverts SyncBN itself). With CUDA the
    config is returned unchanged.
    """
    launcher = cfg.get('launcher', 'none')
    if torch.cuda.is_available() or launcher == 'none':
        return cfg
    init_cpu_dist(launcher)
    n = _replace_syncbn(cfg._cfg_dict)
    if n:
        print_log(f'No CUDA: replaced {n} SyncBN layer config(s) by BN.',
                  logger='current')
    # the same defaults as the runner's own wrapper, minus the device ids
    wrapper = dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.update(cfg.get('model_wrapper_cfg', None) or {})
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    return cfg


def destroy_dist() -> None:
    """End a distributed run: tear the process group down, then leave the
    process without interpreter finalization. A no-op without a group.

    mmengine never destroys the group; with gloo a process that exits while
    its group's threads live aborts (``terminate called without an active
    exception``) after all its work is done, failing the launcher. The
    destroy alone did not prevent it: a CI run saw rank 1 abort this way
    after its last checkpoint and metrics were written (gloo's C++ threads
    torn down while Python finalizes, pytorch/pytorch#179291). Everything is
    written by then, so the logs and stdio are flushed and the process exits
    with ``os._exit(0)``.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    torch_dist.barrier()
    torch_dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
