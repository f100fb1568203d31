from .crf_encoder_decoder import CRFEncoderDecoder
from .dense_crf import DEEPLAB_CRF, dense_crf
from .msc_encoder_decoder import MSCEncoderDecoder

__all__ = ['CRFEncoderDecoder', 'DEEPLAB_CRF', 'MSCEncoderDecoder', 'dense_crf']
