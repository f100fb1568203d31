# irn_cam_r18_gen.py (IRN's background score 0.25, kept for ReCAM: see
# irn_recam_r50_voc.py) for ReCAM: IRNet on pseudo_mask_recam_gen.py's masks,
# the random walk on recam_r18_gen_trainaug.py's CAM files.
_base_ = ['./irn_cam_r18_gen.py']

train_dataloader = dict(
    dataset=dict(label_dir='work_dirs/pseudo_mask_recam_gen/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/recam_r18_gen_trainaug/cams',
    out_dir='work_dirs/irn_recam_r18_gen/masks'))
