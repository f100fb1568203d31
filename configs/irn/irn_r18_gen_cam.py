# irn_r50_voc_cam.py (plain CAM, background score 0.25) on the generated data.
_base_ = ['./irn_r18_gen.py']

model = dict(test_cfg=dict(bg_thr=0.25))
train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_gen_cam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r18_gen_trainaug/cams'))
