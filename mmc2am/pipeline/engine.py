"""The stage engine of the drivers (``tools/run_pipeline.py``,
``benchmarks/bench_deconfounding.py``, ``tools/compare_recipes.py``).

It runs :class:`~mmc2am.pipeline.Stage` s as subprocesses
(``tools/train.py`` / ``tools/test.py``, or ``tools/dist_*.sh`` with several
GPUs), each with its work folder as the current folder:

- a stage whose marker file exists (:attr:`Stage.marker`, written when it
  exits with 0) is skipped, so rerunning a killed command continues; a
  killed training resumes (``--resume``) when its work dir has a
  ``last_checkpoint``;
- up to ``jobs`` stages side by side, a stage as soon as the jobs it waits
  for have finished, the one with the longest remaining chain of expected
  seconds first;
- a line per stage started / finished / skipped with the elapsed time and
  an estimate of the time left (expected seconds, scaled by how fast the
  stages run here went), and mmengine's progress lines of the running
  stages (at most one per stage every ``progress_every`` seconds); every
  stage's output goes to ``<folder>/<tool>_<work dir>.log``;
- a failed stage stops the launching of new ones (or, with
  ``keep_going``, of those that wait for it) and is named, with its log, in
  the ``SystemExit`` raised at the end.

Jobs whose stages are only known once others have finished (the benchmark's
CRF stages of the best forms) are added by a deferred job
(:meth:`Engine.defer`), which counts in the estimate before it is expanded.
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
import threading
import time
from typing import (
    Callable,
    Dict,
    Hashable,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Sequence,
)

from ..utils.config_files import find_config
from ..utils.io import atomic_open
from .launcher import ForkedRun, forkable
from .stage import Stage

#: The repository: its ``tools/`` run the stages, it goes on PYTHONPATH.
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# mmengine's log lines of the training / test loops
_PROGRESS = re.compile(
    r' - mmengine - INFO - ((?:Epoch|Iter)\((?:train|val|test)\).*)')


class Failure(NamedTuple):
    """A stage that exited with another code than 0."""
    name: str
    code: int
    log: str


def _progress_printer(name: str,
                      every: float) -> Callable[[str], None]:
    """A function of a stage's output lines that prints mmengine's
    progress lines, at most one every ``every`` seconds."""
    last = [0.0]

    def progress(line: str) -> None:
        m = _PROGRESS.search(line)
        if m and time.time() - last[0] > every:
            last[0] = time.time()
            print(f'    {name}: {m.group(1)[:100]}', flush=True)

    return progress


class StageRun:
    """A started stage: its process, whose output a thread copies into the
    stage's log (printing mmengine's progress lines), and when it started.

    :meth:`Engine.start` returns one; a replacement of it (tests: fake
    stages) returns any object with ``poll()`` (None while running, else
    the exit code), ``close()``, ``log_path`` and ``started`` (the
    ``time.time()`` it started): :class:`EndedRun`.
    """

    def __init__(self, cmd: List[str], cwd: str, env: Dict[str, str],
                 log_path: str, name: str, progress_every: float = 20.0):
        self.log_path = log_path
        self.started = time.time()
        self._log = open(log_path, 'a')
        self._log.write(' '.join(cmd) + '\n')
        self._log.flush()
        self._proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)

        def read():
            progress = _progress_printer(name, progress_every)
            for line in self._proc.stdout:
                self._log.write(line)
                progress(line)
            self._log.flush()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def poll(self) -> Optional[int]:
        return self._proc.poll()

    def close(self) -> None:
        """After the process has exited: the whole output is in the log."""
        self._reader.join()
        self._log.close()


class EndedRun:
    """A stage run that has already ended with ``code`` (what a replacement
    of :meth:`Engine.start` returns for a stage done in-process: fake stages
    in tests)."""

    def __init__(self, code: int = 0, log_path: str = ''):
        self.code = code
        self.log_path = log_path
        self.started = time.time()

    def poll(self) -> int:
        return self.code

    def close(self) -> None:
        pass


class _Job(NamedTuple):
    stage: Optional[Stage]  # None: a deferred job
    folder: str
    label: str
    after: tuple
    make: Optional[Callable[[], None]] = None
    stages: int = 1  # stages it stands for in the count
    seconds: float = 0.0  # a deferred job's expected seconds


def clock(secs: float) -> str:
    """``m:ss``."""
    secs = int(round(max(secs, 0.0)))
    return f'{secs // 60}:{secs % 60:02d}'


class Engine:
    """Runs stages; see the module docstring.

    Args:
        tag (str): Prefix of its lines (``[tag HH:MM:SS] ...``) and errors.
        log_file (str, optional): Its lines and the commands, appended.
        jobs (int): Stages side by side.
        gpus (int): Processes per stage; > 1 runs ``tools/dist_<tool>.sh``.
        cfg_options (Sequence[str]): ``STEM:KEY=VALUE`` items: ``KEY=VALUE``
            goes to the ``--cfg-options`` of every stage of the config STEM.
        expected (Callable[[Stage], float], optional): Expected seconds of
            a stage (the estimate, the longest chain); default 60.
        stage_threads (int, optional): ``OMP_NUM_THREADS`` of the stages
            unless the environment sets it.
        poll (float): Seconds between looks at the running stages.
        progress_every (float): At most one mmengine line per stage this
            often.
        fork (bool): Start the one-process stages as forks of a process
            that has imported the stack once (:mod:`.launcher`) rather
            than as new interpreters: the same stages, about 5 s less
            each.
    """

    def __init__(self,
                 tag: str = 'pipeline',
                 log_file: Optional[str] = None,
                 jobs: int = 1,
                 gpus: int = 1,
                 cfg_options: Sequence[str] = (),
                 expected: Optional[Callable[[Stage], float]] = None,
                 stage_threads: Optional[int] = None,
                 poll: float = 0.2,
                 progress_every: float = 20.0,
                 fork: bool = True):
        if jobs < 1:
            raise ValueError(f'jobs must be at least 1, got {jobs}')
        self.tag = tag
        self.jobs = jobs
        self.gpus = gpus
        self.cfg_options = list(cfg_options)
        self.expected = expected or (lambda stage: 60.0)
        self.stage_threads = stage_threads
        self.poll = poll
        self.progress_every = progress_every
        self.fork = fork
        self.log = None
        if log_file is not None:
            os.makedirs(osp.dirname(osp.abspath(log_file)), exist_ok=True)
            self.log = open(log_file, 'a')
        self._jobs: Dict[Hashable, _Job] = {}
        self._pending: List[Hashable] = []
        self._chain: Dict[Hashable, float] = {}
        self._done: set = set()
        self._taken: Dict[Hashable, float] = {}  # seconds of stages run here
        self._start = time.time()

    @property
    def stages_run(self) -> int:
        """How many stages this engine has run (skipped ones not counted)."""
        return len(self._taken)

    # the jobs ----------------------------------------------------------
    def add(self, key: Hashable, stage: Stage, folder: str,
            after: Iterable[Hashable] = (), label: str = '') -> None:
        """A job: ``stage`` run in the work folder ``folder`` once the jobs
        ``after`` have finished; ``label`` prefixes its name in the lines
        (``'seed1'``). May be called while :meth:`run` runs (by a deferred
        job)."""
        self._add(key, _Job(stage, osp.abspath(folder), label, tuple(after)))

    def defer(self, key: Hashable, make: Callable[[], None],
              after: Iterable[Hashable] = (), stages: int = 0,
              seconds: float = 0.0) -> None:
        """A job that, once the jobs ``after`` have finished, calls
        ``make``, which :meth:`add` s the jobs it decides on; until then it
        counts as ``stages`` stages of ``seconds`` in the estimate."""
        self._add(key, _Job(None, '', '', tuple(after), make, stages,
                            seconds))

    def _add(self, key: Hashable, job: _Job) -> None:
        if key in self._jobs:
            raise ValueError(f'job {key!r} added twice')
        self._jobs[key] = job
        self._pending.append(key)
        self._order()

    def _seconds(self, key: Hashable) -> float:
        job = self._jobs[key]
        return job.seconds if job.stage is None else float(
            self.expected(job.stage))

    def _order(self) -> None:
        """The pending jobs, longest remaining chain first."""
        waiting: Dict[Hashable, List[Hashable]] = {k: [] for k in self._jobs}
        for k, job in self._jobs.items():
            for d in job.after:
                if d in waiting:
                    waiting[d].append(k)
        chain: Dict[Hashable, float] = {}

        def longest(k):  # the job and everything that waits for it
            if k not in chain:
                chain[k] = self._seconds(k) + max(
                    [longest(n) for n in waiting[k]] or [0.0])
            return chain[k]

        for k in self._jobs:
            longest(k)
        self._chain = chain
        self._pending.sort(key=lambda k: -chain[k])

    def name(self, key: Hashable) -> str:
        job = self._jobs[key]
        return f'{job.label} {job.stage.name}' if job.label else \
            job.stage.name

    # one stage ---------------------------------------------------------
    def command(self, stage: Stage, folder: str) -> List[str]:
        """The command line of ``stage`` run in ``folder``."""
        config = find_config(stage.config)
        rest = []
        if stage.tool == 'train' and osp.exists(
                osp.join(folder, stage.work, 'last_checkpoint')):
            rest.append('--resume')  # a killed training
        rest += ['--work-dir', stage.work]
        opts = list(stage.opts)
        if stage.load_of:
            opts.append(
                'load_from=' + self.checkpoint(folder, stage.load_of))
        opts += [o.split(':', 1)[1] for o in self.cfg_options
                 if o.split(':', 1)[0] == stage.stem]
        if opts:
            rest += ['--cfg-options', *opts]
        ckpt = [self.checkpoint(folder, stage.ckpt_of)
                ] if stage.ckpt_of else []
        if self.gpus > 1:
            return ['bash', osp.join(ROOT, f'tools/dist_{stage.tool}.sh'),
                    config, *ckpt, str(self.gpus), *rest]
        return [sys.executable, osp.join(ROOT, f'tools/{stage.tool}.py'),
                config, *ckpt, *rest]

    @staticmethod
    def checkpoint(folder: str, work: str) -> str:
        """The checkpoint ``<folder>/<work>/last_checkpoint`` names."""
        with open(osp.join(folder, work, 'last_checkpoint')) as f:
            return f.read().strip()

    @staticmethod
    def log_path(stage: Stage, folder: str) -> str:
        """``<folder>/<tool>_<work dir>.log`` (``work_dirs/`` left out)."""
        work = osp.normpath(stage.work)
        if work.startswith('work_dirs' + os.sep):
            work = work[len('work_dirs' + os.sep):]
        return osp.join(folder,
                        f'{stage.tool}_{work.replace(os.sep, "_")}.log')

    def env(self) -> Dict[str, str]:
        """The stages' environment: the repository on PYTHONPATH, the
        thread count."""
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
        if self.stage_threads is not None:
            env.setdefault('OMP_NUM_THREADS', str(self.stage_threads))
        return env

    def start(self, stage: Stage, folder: str, name: str) -> StageRun:
        """Start one stage (the place a test replaces by a fake)."""
        cmd = self.command(stage, folder)
        self.write(f'{name}: {" ".join(cmd)}')
        log_path = self.log_path(stage, folder)
        if self.fork and forkable(cmd):
            return ForkedRun(cmd, folder, self.env(), log_path,
                             _progress_printer(name, self.progress_every))
        return StageRun(cmd, folder, self.env(), log_path, name,
                        self.progress_every)

    def call(self, name: str, cmd: List[str], log_path: str,
             cwd: Optional[str] = None) -> None:
        """Run one command outside the jobs (making the data), its output
        to ``log_path``, forked like the stages where it can be (the
        forkserver then starts while it runs, not after it); ``SystemExit``
        when it fails."""
        self.say(f'{name}: {" ".join(cmd)}')
        start = time.time()
        os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
        if self.fork and forkable(cmd):
            ret = ForkedRun(cmd, cwd or os.getcwd(), self.env(),
                            log_path).wait()
        else:
            with open(log_path, 'a') as log:
                ret = subprocess.call(cmd, cwd=cwd, env=self.env(),
                                      stdout=log, stderr=subprocess.STDOUT)
        if ret != 0:
            raise SystemExit(f'[{self.tag}] {name} failed (exit {ret}); see '
                             f'{log_path}')
        self.say(f'{name}: finished in {time.time() - start:.0f} s')

    # lines -------------------------------------------------------------
    def say(self, msg: str) -> None:
        """Print a line and append it to the log file."""
        line = f'[{self.tag} {time.strftime("%H:%M:%S")}] {msg}'
        print(line, flush=True)
        self.write(line)

    def write(self, line: str) -> None:
        if self.log is not None:
            self.log.write(line + '\n')
            self.log.flush()

    def eta(self, running: Dict[Hashable, object]) -> str:
        """``'<done>/<all> stages done, elapsed m:ss, about m:ss left'``:
        the expected seconds left over the jobs or the longest remaining
        chain, whichever is longer, scaled by how fast the stages that ran
        here went against their expected seconds."""
        now = time.time()
        pending = self._pending
        left = sum(self._seconds(k) for k in pending) + sum(
            max(self._seconds(k) - (now - r.started), 0.0)
            for k, r in running.items())
        path = max([self._chain[k] for k in pending] + [
            max(self._chain[k] - (now - r.started), 0.0)
            for k, r in running.items()] + [0.0])
        planned = sum(self._seconds(k) for k in self._taken)
        speed = sum(self._taken.values()) / planned if planned else 1.0
        secs = max(left / self.jobs, path) * speed
        done = len([k for k in self._done if self._jobs[k].stage])
        total = sum(job.stages for k, job in self._jobs.items()
                    if job.stage is not None or k not in self._done)
        return (f'{done}/{total} stages done, elapsed '
                f'{clock(now - self._start)}, about {clock(secs)} left')

    # the scheduler -----------------------------------------------------
    def run(self, keep_going: bool = False,
            on_done: Optional[Callable[[Hashable], None]] = None
            ) -> List[Failure]:
        """Run every job added (and those deferred jobs add).

        Args:
            keep_going (bool): After a failure, go on with the jobs that do
                not wait for it (else launch nothing new, wait for the
                running stages and raise).
            on_done (Callable, optional): Called with the key of every job
                that finishes or is skipped.

        Returns:
            list[Failure]: With ``keep_going``, the failed stages (for the
            caller to report, then :meth:`fail`).

        Raises:
            SystemExit: Without ``keep_going``, when a stage failed.
            ValueError: A job waits for a key never added.
        """
        for k, job in self._jobs.items():
            missing = [d for d in job.after if d not in self._jobs]
            if missing:
                raise ValueError(f'job {k!r} waits for unknown {missing}')
        running: Dict[Hashable, object] = {}
        failed: List[Failure] = []

        def finished(k):
            self._done.add(k)
            if on_done is not None:
                on_done(k)

        while self._pending or running:
            launched = True
            while launched and (keep_going or not failed):
                launched = False
                for k in self._pending:
                    job = self._jobs[k]
                    if any(d not in self._done for d in job.after):
                        continue
                    if job.stage is None:  # deferred: its jobs now
                        self._pending.remove(k)
                        job.make()
                        finished(k)
                        self._order()
                        launched = True
                        break
                    if osp.exists(osp.join(job.folder, job.stage.marker)):
                        self.say(f'{self.name(k)}: done before, skipped')
                        self._pending.remove(k)
                        finished(k)
                        launched = True
                        break
                    if len(running) < self.jobs:
                        self._pending.remove(k)
                        running[k] = self.start(job.stage, job.folder,
                                                self.name(k))
                        self.say(f'{self.name(k)}: started | '
                                 f'{self.eta(running)}')
                        launched = True
                        break
            if not running:
                break
            time.sleep(self.poll)
            for k in list(running):
                r = running[k]
                ret = r.poll()
                if ret is None:
                    continue
                r.close()
                del running[k]
                secs = time.time() - r.started
                if ret != 0:
                    failed.append(Failure(self.name(k), ret, r.log_path))
                    self.say(f'{self.name(k)}: FAILED (exit {ret}); see '
                             f'{r.log_path}' +
                             ('; waiting for the running stages'
                              if running and not keep_going else ''))
                    continue
                job = self._jobs[k]
                with atomic_open(osp.join(job.folder, job.stage.marker),
                                 'w') as f:
                    f.write(f'{secs:.1f}\n')
                self._taken[k] = secs
                finished(k)
                self.say(f'{self.name(k)}: finished in {secs:.0f} s | '
                         f'{self.eta(running)}')
        if failed and self._pending:
            self.say(f'{len(self._pending)} jobs not run: they wait for a '
                     'failed stage')
        if failed and not keep_going:
            self.fail(failed)
        return failed

    def fail(self, failed: Sequence[Failure]) -> None:
        """Raise the ``SystemExit`` that names the failed stages."""
        if len(failed) == 1:
            name, code, log = failed[0]
            raise SystemExit(
                f'[{self.tag}] stage {name} failed (exit {code}); see {log}. '
                'Rerun the same command to continue from this stage.')
        raise SystemExit(
            f'[{self.tag}] {len(failed)} stages failed: ' + '; '.join(
                f'{f.name} (exit {f.code}; see {f.log})' for f in failed) +
            '. Rerun the same command to continue from them.')


def add_cfg_options_argument(parser: argparse.ArgumentParser,
                             example: str) -> None:
    """A driver's ``--cfg-options STEM:KEY=VALUE ...`` (the engine's
    ``cfg_options``); ``example``: an item for the help."""
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='STEM:KEY=VALUE',
        help='extra --cfg-options for the stages of the config STEM, e.g. '
        f'{example} (quick runs and tests: the results are then not those '
        'of the configs)')


def check_cfg_options(parser: argparse.ArgumentParser,
                      options: Sequence[str]) -> None:
    """``parser.error`` for an item that is not ``STEM:KEY=VALUE``."""
    for opt in options:
        if not re.fullmatch(r'[^:=\s]+:[^=\s]+=.*', opt):
            parser.error(f'--cfg-options takes STEM:KEY=VALUE, got {opt!r}')
