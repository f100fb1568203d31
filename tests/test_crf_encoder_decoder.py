"""CRFEncoderDecoder: DeepLab's test-time dense CRF on any mmseg segmenter
(here the demo's DeepLabV3+, auxiliary head included)."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.structures import SegDataSample

import mmc2am  # noqa: F401  (registers the components)
from mmc2am.models.segmentors import DEEPLAB_CRF, CRFEncoderDecoder, dense_crf
from mmc2am.registry import MODELS
from mmc2am.utils import find_config

pytestmark = pytest.mark.usefixtures('one_thread')

CONFIG = find_config('deeplabv3plus_r18w32-d16_gen_pseudo.py')


def build(crf=None, plain=False):
    """The demo segmenter's model (random init, eval), as mmseg's
    ``EncoderDecoder`` (``plain``) or as ``CRFEncoderDecoder``."""
    cfg = Config.fromfile(CONFIG).model
    if not plain:
        cfg.type = 'mmc2am.CRFEncoderDecoder'
        cfg.test_cfg = dict(mode='whole', crf=crf)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def batch(model, flip=False):
    """Two 24x32 images, the right half dark, through the preprocessor."""
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(2, 3, 24, 32)).astype(np.uint8)
    imgs[:, :, :, 16:] //= 4
    meta = dict(ori_shape=(24, 32), img_shape=(24, 32), pad_shape=(24, 32),
                padding_size=[0, 0, 0, 0], flip=flip,
                flip_direction='horizontal')
    samples = [SegDataSample(metainfo=meta) for _ in range(2)]
    data = model.data_preprocessor(
        dict(inputs=list(torch.from_numpy(imgs)), data_samples=samples),
        False)
    return imgs, data


def test_same_weights_as_mmseg_encoder_decoder():
    # a DeepLabV3+ checkpoint trained without the CRF loads unchanged
    torch.manual_seed(0)
    plain = build(plain=True)
    model = build(crf={})
    assert isinstance(model, CRFEncoderDecoder)
    assert model.with_auxiliary_head
    assert model.state_dict().keys() == plain.state_dict().keys()
    model.load_state_dict(plain.state_dict())
    _, data = batch(model)
    with torch.no_grad():
        a = plain.predict(data['inputs'], data['data_samples'])
        b = build(crf=None)
        b.load_state_dict(plain.state_dict())
        c = b.predict(data['inputs'], data['data_samples'])
    for x, y in zip(a, c):  # without crf: mmseg's prediction, unchanged
        assert torch.equal(x.seg_logits.data, y.seg_logits.data)
        assert torch.equal(x.pred_sem_seg.data, y.pred_sem_seg.data)


@pytest.mark.parametrize('flip', [False, True])
def test_prediction_is_the_crf_of_the_softmax(flip):
    torch.manual_seed(0)
    model = build(crf=dict(bi_xy_std=10))
    assert model.crf == dict(DEEPLAB_CRF, bi_xy_std=10)
    # a decisive head, so the CRF has something other than noise to refine
    with torch.no_grad():
        model.decode_head.conv_seg.weight.mul_(50)
    imgs, data = batch(model, flip)
    with torch.no_grad():
        res = model.predict(data['inputs'], data['data_samples'])
    changed = 0
    for i in range(2):
        # the CRF's image is the input un-normalised (BGR -> RGB by the
        # preprocessor), flipped back when the pipeline flipped it
        rgb = imgs[i][::-1].transpose(1, 2, 0)
        if flip:
            rgb = rgb[:, ::-1]
        probs = res[i].seg_logits.data.softmax(0).numpy()
        want = dense_crf(np.ascontiguousarray(rgb), probs,
                         **model.crf).argmax(0)
        got = res[i].pred_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(got, want)
        changed += int((got != probs.argmax(0)).sum())
    assert changed > 0  # the CRF changed the argmax somewhere


def test_unknown_crf_setting_is_refused():
    with pytest.raises(ValueError, match=r"unknown CRF settings \['iters'\]"):
        build(crf=dict(iters=5))
