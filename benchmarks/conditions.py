"""What a benchmark ran under, printed with its figures; spreads of repeats.

Timings on the shared 2-core machines move by several-fold with the load
(other processes, OpenMP threads spinning at barriers while their core is
taken), and x86 CPUs slow down by orders of magnitude on denormal floats, so
every script prints these conditions and the spread of its repeats.
"""
import os
import platform
from typing import Sequence

import numpy as np


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def conditions(flush_denormal: bool) -> str:
    """One line: CPU, cores, torch threads, denormal flushing, load."""
    import torch
    load = ', '.join(f'{v:.2f}' for v in os.getloadavg())
    return (f'{cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}'
            f', {torch.get_num_threads()} thread(s) (OMP_NUM_THREADS='
            f'{os.environ.get("OMP_NUM_THREADS", "unset")}), denormals '
            f'{"flushed" if flush_denormal else "not flushed"}; load average '
            f'(1, 5, 15 min) {load}')


def load_now() -> str:
    return ', '.join(f'{v:.2f}' for v in os.getloadavg())


def spread(values: Sequence[float], fmt: str = '{:.2f}') -> str:
    """``median [min - max]`` of the repeats."""
    v = np.asarray(values, dtype=np.float64)
    return (f'{fmt.format(np.median(v))} [{fmt.format(v.min())} - '
            f'{fmt.format(v.max())}]')
