# irn_r50_voc_c2am.py (C2AM, background score 0.20) on the generated data.
_base_ = ['./irn_r18_gen.py']

model = dict(test_cfg=dict(bg_thr=0.20))
train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_gen_c2am/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/c2am_r18_gen_trainaug/cams'))
