# irn_r18_gen_cam.py (IRN's background score 0.25) for RCA: IRNet on
# crf_gen_rca.py's masks, the random walk on rca_r18_gen_trainaug.py's CAM
# files.
_base_ = ['./irn_r18_gen_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_gen_rca/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/rca_r18_gen_trainaug/cams'))
