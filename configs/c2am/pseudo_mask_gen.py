# Pseudo-masks on the generated VOC-layout data (mmc2am.datasets
# .generate_voc_dataset): same method and settings as pseudo_mask_voc.py,
# on 2 CPU cores.
_base_ = './pseudo_mask_voc.py'

data_root = 'data/gen_voc/VOC2012'
num_workers = 2
