# voc.py with the papers' segmenter: DeepLab-v2 ResNet-101, multi-scale
# inputs fused by max, dense-CRF post-processing at test
# (configs/deeplabv2/deeplabv2_r101-d8_voc_pseudo.py), whose val / test
# figures compare with the C2AM results table (configs/README.md:
# Reproducing the table on VOC). voc.py's DeepLabV3+ is the modern choice.
#   python tools/run_pipeline.py --preset voc_deeplabv2 --work-dir work_dirs/voc
_base_ = ['./voc.py']
segmenter = 'deeplabv2_r101-d8_voc_pseudo.py'
