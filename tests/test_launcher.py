"""mmc2am.pipeline.launcher: a script forked from the import-only
forkserver runs as ``python script args`` would: its argv, working folder,
environment and thread count, its output appended to the log, its exit
code (also from SystemExit and exceptions), and a kill."""
import os
import os.path as osp
import signal
import sys
import textwrap
import time

import pytest

from mmc2am.pipeline.launcher import ForkedRun, forkable

SCRIPT = textwrap.dedent('''\
    import json, os, sys
    import torch
    print(json.dumps(dict(argv=sys.argv, cwd=os.getcwd(),
                          var=os.environ.get('MMC2AM_T'),
                          name=__name__, path0=sys.path[0],
                          threads=torch.get_num_threads())))
    print('to stderr', file=sys.stderr)
    if sys.argv[1] == 'raise':
        raise ValueError('bad value')
    if sys.argv[1] == 'sleep':
        import time
        time.sleep(60)
    sys.exit(int(sys.argv[1]) if sys.argv[1].isdigit() else sys.argv[1])
    ''')


@pytest.fixture
def script(tmp_path):
    path = tmp_path / 'tool' / 'script.py'
    path.parent.mkdir()
    path.write_text(SCRIPT)
    return str(path)


def _run(script, tmp_path, arg, **env):
    log = str(tmp_path / f'{arg}.log')
    cwd = tmp_path / 'cwd'
    cwd.mkdir(exist_ok=True)
    env = {**os.environ, 'MMC2AM_T': 'x', 'OMP_NUM_THREADS': '1', **env}
    lines = []
    run = ForkedRun([sys.executable, script, arg], str(cwd), env, log,
                    on_line=lines.append)
    code = run.wait(120)
    with open(log) as f:
        return code, f.read(), lines


def test_argv_cwd_env_output_and_exit_codes(script, tmp_path):
    import json
    code, text, lines = _run(script, tmp_path, '3')
    assert code == 3
    first, seen, err = text.splitlines()
    assert first == f'{sys.executable} {script} 3'  # the command, then output
    seen = json.loads(seen)
    assert seen == dict(argv=[script, '3'], cwd=str(tmp_path / 'cwd'),
                        var='x', name='__main__', path0=osp.dirname(script),
                        threads=1)
    assert err == 'to stderr'
    assert lines == text.splitlines()[1:]  # every line reached on_line
    code, text, _ = _run(script, tmp_path, '0', OMP_NUM_THREADS='2')
    assert code == 0 and '"threads": 2' in text
    code, text, _ = _run(script, tmp_path, 'a message')
    assert code == 1 and text.rstrip().endswith('a message')
    code, text, _ = _run(script, tmp_path, 'raise')
    assert code == 1
    assert 'Traceback' in text and 'ValueError: bad value' in text


def test_kill_of_its_process_group(script, tmp_path):
    log = str(tmp_path / 'k.log')
    run = ForkedRun([sys.executable, script, 'sleep'], str(tmp_path),
                    dict(os.environ), log, new_session=True)
    deadline = time.time() + 60
    while 'to stderr' not in open(log).read():
        assert run.poll() is None and time.time() < deadline
        time.sleep(0.05)
    assert os.getpgid(run.pid) == run.pid  # its own group
    os.killpg(run.pid, signal.SIGKILL)
    assert run.wait(30) == -signal.SIGKILL


def test_what_is_forked():
    assert forkable([sys.executable, 'tools/train.py', 'a.py'])
    assert not forkable(['bash', 'tools/dist_train.sh', 'a.py', '2'])
    assert not forkable([sys.executable, '-c', 'print(1)'])
