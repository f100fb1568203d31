# irn_r18_gen_cam.py (IRN's background score 0.25 and the CAMs as they are:
# the generated data walks every method as plain CAM, as its CRF stage
# takes every method's thresholds from the same rule; on VOC ReCAM's own
# 0.28: irn_r50_voc_recam.py) for ReCAM: IRNet on crf_gen_recam.py's
# masks, the random walk on recam_r18_gen_trainaug.py's CAM files.
_base_ = ['./irn_r18_gen_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_gen_recam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/recam_r18_gen_trainaug/cams'))
