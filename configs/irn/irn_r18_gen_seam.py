# irn_r18_gen_cam.py (IRN's background score 0.25, kept for SEAM: see
# irn_r50_voc_seam.py) for SEAM: IRNet on crf_gen_seam.py's masks, the
# random walk on seam_r18_gen_trainaug.py's CAM files.
_base_ = ['./irn_r18_gen_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_gen_seam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/seam_r18_gen_trainaug/cams'))
