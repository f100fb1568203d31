# CRF pseudo-masks of the CONTA round, from the CAM files of
# conta_r50_voc_trainaug.py: CONTA runs IRN's pipeline after its classifier
# (dongzhang89/CONTA pseudo_mask/run_sample.py), so plain CAM's CRF
# settings (crf_voc_cam.py: IRN's confident-label thresholds).
#   python tools/test.py configs/conta/crf_voc_conta.py
_base_ = ['../crf/crf_voc_cam.py']

test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/conta_r50_voc_trainaug/cams'))
