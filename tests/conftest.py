"""Shared pytest fixtures: a tiny generated VOC2012-layout dataset."""
import pytest

# The tiny dataset shared by every test of the session: small enough to be
# generated in well under a second, large enough that every split is non-empty
# and most classes occur.
TINY_VOC = dict(num_train=24, num_val=12, num_aug=24, img_size=64, seed=0)


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
