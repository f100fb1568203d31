"""Wall time of the test suite against the landed suite of an older commit
(issue 23, acceptance 2), measured back to back in one run.

Three runs per repeat, on the same machine and ``.venv``:

- ``old``: the suite of ``--old`` (a clone of this repository checked out
  there) run as that commit's Makefile ran it (``pytest -q tests``, one
  process);
- ``new``: this checkout's whole suite as ``make test`` runs it (pytest-xdist
  on every core, at most 4 workers, ``--dist loadfile``);
- ``same``: this checkout's suite restricted to the old suite's tests: every
  old test id that still exists, and for each one renamed or folded since,
  its named replacement (:data:`REPLACED`). The benchmark refuses to run if
  an old test has neither.

The suite grew with later issues (tests of methods the old commit did not
have), so ``new / old`` and ``same / old`` are both printed. Repeats go in
the order old, new, same, then reversed (drift of the machine's speed hits
both sides alike); the report is every time and the median ratio.

    python benchmarks/bench_test_suite.py [--old 8613b0f] [--repeats 2]
"""
import argparse
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from conditions import load_now

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: Old test id -> the test ids that replace it here (renamed configs and
#: scopes of issue 22, tests folded together by issue 23).
REPLACED: Dict[str, List[str]] = {
    'tests/test_advcam.py::test_predict_advcams_has_predict_cams_format': [
        'tests/test_advcam.py::test_advcam_has_the_multi_scale_cam_format'],
    'tests/test_causal_cam_head.py::test_context_and_control_configs_build'
    '[c2am_context_r18_gen.py-front_door_context]': [
        'tests/test_causal_cam_head.py::test_context_and_control_configs_'
        'build[c2am_r18_gen_context.py-front_door_context]'],
    'tests/test_causal_cam_head.py::test_context_and_control_configs_build'
    '[cam_ft_r18_gen.py-None]': [
        'tests/test_causal_cam_head.py::test_context_and_control_configs_'
        'build[cam_r18_gen_ft.py-None]'],
    'tests/test_classifier_configs.py::test_real_configs_build'
    '[voc_r50.py-front_door]': [
        'tests/test_classifier_configs.py::test_real_configs_build'
        '[c2am_r50_voc.py-front_door]'],
    'tests/test_classifier_configs.py::test_real_configs_build'
    '[voc_r50_spatial.py-front_door_spatial]': [
        'tests/test_classifier_configs.py::test_real_configs_build'
        '[c2am_r50_voc_spatial.py-front_door_spatial]'],
    'tests/test_irn.py::test_configs_build_and_run[irn_c2am_r18_gen.py]': [
        'tests/test_irn.py::test_configs_build_and_run[irn_r18_gen_c2am.py]'],
    'tests/test_irn.py::test_configs_build_and_run[irn_cam_r50_voc.py]': [
        'tests/test_irn.py::test_configs_build_and_run[irn_r50_voc_cam.py]'],
    'tests/test_reference_recipe.py::test_optimizer_and_poly_schedule'
    '[voc_r50.py-0.0005-4-0.0001]': [
        'tests/test_reference_recipe.py::test_optimizer_and_poly_schedule'
        '[c2am_r50_voc.py-0.0005-4-0.0001]'],
    'tests/test_reference_recipe.py::test_optimizer_and_poly_schedule'
    '[voc_r50_m09.py-0.0005-4-0.9]': [
        'tests/test_reference_recipe.py::test_optimizer_and_poly_schedule'
        '[c2am_r50_voc_m09.py-0.0005-4-0.9]'],
    **{f'tests/test_reference_recipe.py::test_total_batch_over_processes'
       f'[{n}-voc_r50.py-16]': [
           f'tests/test_reference_recipe.py::test_total_batch_over_'
           f'processes[{n}-c2am_r50_voc.py-16]'] for n in (1, 2, 8)},
    'tests/test_registry_scopes.py::test_build_head_in_mmpretrain_scope': [
        'tests/test_registry_scopes.py::test_build_head_in_mmpretrain_scope_'
        'with_prefix'],
    'tests/test_registry_scopes.py::test_build_head_in_mmseg_scope_with_'
    'prefix': ['tests/test_registry_scopes.py::test_build_head_in_mmc2am_'
               'scope'],
    'tests/test_registry_scopes.py::test_build_metric_in_mmseg_scope': [
        'tests/test_registry_scopes.py::test_build_metric_in_mmseg_scope_'
        'with_prefix'],
    'tests/test_run_pipeline.py::test_commands': [
        'tests/test_pipeline_engine.py::test_commands_resume_and_options'],
    'tests/test_run_pipeline.py::test_method_settings_live_in_the_configs': [
        'tests/test_run_pipeline.py::test_method_settings_live_in_the_'
        'configs[tools/run_pipeline.py]'],
    'tests/test_test_tool.py::test_keep_results_only_where_accepted'
    '[mmpretrain-SeedMetric-False]': [
        'tests/test_test_tool.py::test_keep_results_only_where_accepted'
        '[mmc2am-SeedMetric-False]'],
    'tests/test_test_tool.py::test_keep_results_only_where_accepted'
    '[mmseg-PseudoMaskMetric-False]': [
        'tests/test_test_tool.py::test_keep_results_only_where_accepted'
        '[mmc2am-PseudoMaskMetric-False]'],
    'tests/test_train_resume.py::test_train_then_resume': [
        'tests/test_fault_resume.py::test_a_resumed_runner_holds_the_'
        'checkpoints_optimizer_state'],
    'tests/test_train_step_parity.py::test_compact_constructor_is_'
    'registered_in_root_registry': [
        'tests/test_train_step_parity.py::test_compact_constructor_is_'
        'registered_in_mmc2am_registry'],
}

RESULT = re.compile(r'(\d+) passed(?:, (\d+) skipped)?.* in ([\d.]+)s')


def test_jobs() -> int:
    """``make test``'s worker count: the cores, at most 4, none for one."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') \
        else os.cpu_count() or 1
    n = min(n, 4)
    return 0 if n < 2 else n


def collect(repo: str) -> List[str]:
    """The test ids of ``repo``'s suite (``pytest --collect-only``)."""
    out = subprocess.run(
        [sys.executable, '-m', 'pytest', '--collect-only', '-q',
         '-p', 'no:cacheprovider', 'tests'], cwd=repo,
        env=dict(os.environ, PYTHONPATH=repo), capture_output=True,
        text=True, check=True).stdout
    return [line for line in out.splitlines() if '::' in line]


def same_tests(old: List[str], new: List[str]) -> List[str]:
    """Here, the old suite's tests: each old id, or its replacements."""
    have, ids, missing = set(new), [], []
    for test in old:
        got = [test] if test in have else REPLACED.get(test, [])
        if not got or not set(got) <= have:
            missing.append(test)
        ids += [t for t in got if t not in ids]
    if missing:
        raise SystemExit('old tests with neither their id nor a named '
                         'replacement here (REPLACED):\n  ' +
                         '\n  '.join(missing))
    return ids


def run(name: str, cmd: List[str], cwd: str, log: str) -> Tuple[float, str]:
    """Run a suite; its wall seconds and pytest's summary line."""
    start = time.time()
    with open(log, 'w') as f:
        code = subprocess.call(cmd, cwd=cwd, stdout=f,
                               stderr=subprocess.STDOUT,
                               env=dict(os.environ, PYTHONPATH=cwd))
    wall = time.time() - start
    with open(log) as f:
        text = f.read()
    found = RESULT.findall(text)
    if code != 0 or not found:
        raise SystemExit(f'{name}: exit {code}; see {log}')
    passed, skipped, _ = found[-1]
    summary = f'{passed} passed, {skipped or 0} skipped'
    print(f'{time.strftime("%H:%M:%S")} {name}: {wall:.1f} s ({summary}; '
          f'load average after {load_now()})', flush=True)
    return wall, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--old', default='8613b0f',
                        help='commit of the suite to compare with (default: '
                        'the landed commit before issue 23)')
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--work-dir', default=None,
                        help='where the old clone and the logs go '
                        '(default: a new temporary folder)')
    args = parser.parse_args()

    work = args.work_dir or tempfile.mkdtemp(prefix='bench_test_suite_')
    os.makedirs(work, exist_ok=True)
    old_repo = osp.join(work, 'old')
    if not osp.isdir(old_repo):
        subprocess.run(['git', 'clone', '-q', '--shared', ROOT, old_repo],
                       check=True)
    subprocess.run(['git', 'checkout', '-q', args.old], cwd=old_repo,
                   check=True)
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    ids = same_tests(collect(old_repo), collect(ROOT))
    id_file = osp.join(work, 'same_tests.txt')
    with open(id_file, 'w') as f:
        f.write('\n'.join(ids) + '\n')
    jobs = test_jobs()
    xdist = ['-n', str(jobs), '--dist', 'loadfile',
             '--no-loadscope-reorder'] if jobs else []
    pytest = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider']
    suites = {
        'old': (pytest + ['tests'], old_repo),
        'new': (pytest + xdist + ['tests'], ROOT),
        'same': (pytest + xdist + ids, ROOT),
    }
    print(f'old: {args.old} ({old_repo}), new: {head} ({ROOT}), {jobs} '
          f'workers; same: {len(ids)} tests ({id_file}); load average '
          f'before {load_now()}', flush=True)
    walls = {k: [] for k in suites}
    order = list(suites)
    for r in range(args.repeats):
        for name in (order if r % 2 == 0 else order[::-1]):
            cmd, cwd = suites[name]
            wall, _ = run(name, cmd, cwd, osp.join(work, f'{name}{r}.log'))
            walls[name].append(wall)
    print('\n| suite | wall s, each repeat | median | / old (median of '
          'the repeats\' ratios) |\n|---|---|---|---|')
    for name in order:
        ratios = [w / o for w, o in zip(walls[name], walls['old'])]
        print(f'| {name} | {" / ".join(f"{w:.1f}" for w in walls[name])} | '
              f'{statistics.median(walls[name]):.1f} | '
              f'{statistics.median(ratios):.1%} '
              f'({" / ".join(f"{x:.1%}" for x in ratios)}) |')


if __name__ == '__main__':
    main()
