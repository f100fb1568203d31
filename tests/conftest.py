"""Shared pytest fixtures: a tiny generated VOC2012-layout dataset."""
import os

import pytest

# The tiny dataset shared by every test of the session: small enough to be
# generated in well under a second, large enough that every split is non-empty
# and most classes occur.
TINY_VOC = dict(num_train=24, num_val=12, num_aug=24, img_size=64, seed=0)


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs ``-n <cores>``), give each worker
    its share of the cores: two workers with two OpenMP threads each on two
    cores make every torch op fight for them. The subprocesses that tests
    start (tools/train.py, ...) inherit the share through OMP_NUM_THREADS,
    unless a test sets its own."""
    workers = os.environ.get('PYTEST_XDIST_WORKER_COUNT')
    if not workers:
        return
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
             else os.cpu_count() or 1)
    threads = max(1, cores // int(workers))
    os.environ.setdefault('OMP_NUM_THREADS', str(threads))
    import torch

    torch.set_num_threads(threads)


# The slowest files (their tests start and train models in subprocesses),
# slowest first. Under pytest-xdist with --dist loadfile, each file runs whole
# on one worker; started first, none of them is left running alone at the end
# while the other workers idle.
SLOW_FIRST = ('test_run_pipeline.py', 'test_pipeline_engine.py',
              'test_determinism.py', 'test_fault_resume.py',
              'test_distributed.py', 'test_mask_stages.py',
              'test_global_cam_hook.py')


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the files of ``SLOW_FIRST`` first (every worker
    sorts alike, as xdist requires); a plain run keeps pytest's order."""
    if not os.environ.get('PYTEST_XDIST_WORKER'):
        return
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))


@pytest.fixture(scope='session')
def voc_root(tmp_path_factory) -> str:
    """Root (the ``VOC2012`` folder itself) of a tiny generated VOC dataset.

    64x64 images, seed 0: 24 ``train``, 12 ``val`` and 24 extra images, so
    ``trainaug.txt`` lists 48 ids and ``aug.txt`` 24. Masks exist in
    ``SegmentationClass`` (train + val) and ``SegmentationClassAug`` (all).
    Read ``meta.json`` in the root for the generator's ground truth.
    """
    from mmc2am.testing import generate_voc_dataset

    root = tmp_path_factory.mktemp('voc') / 'VOC2012'
    generate_voc_dataset(str(root), **TINY_VOC)
    return str(root)


@pytest.fixture
def one_thread():
    """One torch thread for the test (modules opt in with
    ``pytestmark = pytest.mark.usefixtures('one_thread')``): on the shared
    2-core test machine, two OpenMP threads competing with other jobs make a
    small forward up to 20x slower."""
    import torch

    num = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Undo any mmengine default scope a test sets, so order never matters."""
    from mmengine.registry import DefaultScope

    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = saved


def _manager_classes():
    """mmengine's global-instance classes whose instances a Runner names
    after its config and start second (logger, message hub, visualizers)."""
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.visualization import Visualizer

    classes, todo = [], [MMLogger, MessageHub, Visualizer]
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    return classes


_BASELINE = {}


def _forget_instances():
    for cls in _manager_classes():
        base = _BASELINE.setdefault(cls, cls._instance_dict.copy())
        cls._instance_dict = base.copy()


@pytest.fixture(autouse=True)
def _forget_runner_instances():
    """Each test starts from the loggers, message hubs and visualizers there
    were before the first test, and leaves none of its own behind.

    A Runner gets them by name (``<config>_<start second>``), and mmengine's
    ``get_instance`` returns an existing one unchanged: a second in-process
    run of the same config in the same second (two tests back to back under
    pytest-xdist, or a module fixture's run and a test's) would log, and
    write its seed curve, into the first run's folder (seen in CI:
    ``seed_sweep.json`` missing from the second run's folder)."""
    _forget_instances()
    yield
    _forget_instances()


@pytest.fixture(autouse=True, scope='module')
def _restore_default_scope_of_the_module():
    """The same for a test file: a module-scoped fixture is set up before any
    function-scoped one, so the scope of a Runner it runs (``mmc2am`` for the
    stage configs) would stay current for the files after it, where a build
    of ``ResNet`` then fails (seen under pytest-xdist's file order)."""
    from mmengine.registry import DefaultScope

    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = saved
