"""Stages forked from one process that has imported the stack once.

A stage of :class:`~mmc2am.pipeline.Engine` is ``python tools/<tool>.py
...``. As a fresh interpreter, each one first imports torch, mmengine,
mmseg, mmpretrain and mmc2am: about 5 s of a 2-core machine per stage,
longer than many of the generated-data stages themselves. Here a
multiprocessing *forkserver* imports those modules once (:data:`PRELOAD`)
and every stage is a fork of it that runs the tool's script as
``__main__`` with the stage's command line, working folder and
environment, its output appended to the stage's log. Nothing of one stage
leaks into the next: each is a new process forked from the same
import-only state (the forkserver runs no torch op, so no OpenMP pool
exists when it forks).

Multi-GPU stages (``tools/dist_*.sh``) and commands that are not a Python
tool of this repository keep :class:`subprocess.Popen`.
"""
import multiprocessing as mp
import os
import os.path as osp
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

#: Imported once by the forkserver: what ``tools/train.py`` and
#: ``tools/test.py`` import and what building their configs imports.
PRELOAD = ('torch', 'mmengine.runner', 'mmseg.models', 'mmseg.datasets',
           'mmpretrain.models', 'mmpretrain.datasets', 'mmc2am.models',
           'mmc2am.datasets', 'mmc2am.engine', 'mmc2am.evaluation',
           'mmc2am.visualization', 'mmc2am.utils')

_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = mp.get_context('forkserver')
        _CONTEXT.set_forkserver_preload(list(PRELOAD))
    return _CONTEXT


def forkable(cmd: List[str]) -> bool:
    """Whether ``cmd`` is ``<this python> <script>.py ...`` on a platform
    with a forkserver (Linux, macOS)."""
    return (len(cmd) >= 2 and cmd[0] == sys.executable
            and cmd[1].endswith('.py')
            and 'forkserver' in mp.get_all_start_methods())


def _run_script(cmd: List[str], cwd: str, env: Dict[str, str],
                log_path: str, new_session: bool) -> None:
    """In the forked child: ``python <script> <args>`` as the interpreter
    would run it, its output appended to ``log_path``."""
    if new_session:
        os.setsid()
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, 'w', buffering=1, closefd=False)
    sys.stderr = open(2, 'w', buffering=1, closefd=False)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    script = cmd[1]
    # what `python script` puts first on sys.path, then PYTHONPATH's
    sys.path[:0] = [osp.dirname(osp.abspath(script))] + [
        p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p]
    sys.argv = list(cmd[1:])
    threads = env.get('OMP_NUM_THREADS')
    if threads:
        # the forkserver loaded OpenMP with its own environment's count
        import torch
        torch.set_num_threads(int(threads))
    import runpy
    code = 0
    try:
        runpy.run_path(script, run_name='__main__')
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # no atexit handlers / finalizers of the state shared with the server
    os._exit(code)


class ForkedRun:
    """A stage forked from the forkserver (see the module's docstring);
    the same interface as :class:`~mmc2am.pipeline.engine.StageRun`:
    ``poll()``, ``close()``, ``log_path``, ``started``.

    Args:
        cmd: ``[sys.executable, script, *args]``.
        cwd: The stage's working folder.
        env: Its environment.
        log_path: Its log; the command line is written first, then its
            output is appended.
        on_line: Called with each line the stage writes (a thread tails
            the log), e.g. to print progress.
        new_session: The child leads a new session and process group
            (``os.killpg(run.pid, ...)`` reaches it and its children).
    """

    def __init__(self, cmd: List[str], cwd: str, env: Dict[str, str],
                 log_path: str,
                 on_line: Optional[Callable[[str], None]] = None,
                 new_session: bool = False):
        self.log_path = log_path
        self.started = time.time()
        with open(log_path, 'a') as log:
            log.write(' '.join(cmd) + '\n')
            start = log.tell()
        self._proc = _context().Process(
            target=_run_script, args=(cmd, cwd, env, log_path, new_session),
            daemon=False)
        self._proc.start()
        self._stop = threading.Event()
        self._tail = threading.Thread(
            target=self._follow, args=(start, on_line), daemon=True)
        self._tail.start()

    def _follow(self, pos: int, on_line) -> None:
        with open(self.log_path) as f:
            f.seek(pos)
            part = ''
            while True:
                chunk = f.read()
                if chunk:
                    lines = (part + chunk).split('\n')
                    part = lines.pop()
                    if on_line is not None:
                        for line in lines:
                            on_line(line)
                elif self._stop.is_set():
                    break
                else:
                    time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll(self) -> Optional[int]:
        """None while it runs, else its exit code (``-signal`` if killed)."""
        return self._proc.exitcode

    def wait(self, timeout: Optional[float] = None) -> int:
        """Its exit code once it has ended (``TimeoutError`` after
        ``timeout`` seconds, the process killed)."""
        self._proc.join(timeout)
        if self._proc.exitcode is None:
            self._proc.kill()
            self.close()
            raise TimeoutError(f'{self.log_path}: still running after '
                               f'{timeout} s; killed')
        self.close()
        return self._proc.exitcode

    def close(self) -> None:
        """After the process has exited."""
        self._proc.join()
        self._stop.set()
        self._tail.join()
