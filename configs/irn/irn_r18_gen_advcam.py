# irn_r18_gen_cam.py (IRN's background score 0.25 and the CAMs as they are:
# the generated data walks every method as plain CAM, as its CRF stage
# takes every method's thresholds from the same rule; on VOC AdvCAM's
# walk on cam ** 1.5: irn_r50_voc_advcam.py) for AdvCAM: IRNet on
# crf_gen_advcam.py's masks, the random walk on
# advcam_r18_gen_trainaug.py's CAM files.
_base_ = ['./irn_r18_gen_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_gen_advcam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/advcam_r18_gen_trainaug/cams'))
