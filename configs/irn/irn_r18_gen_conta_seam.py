# irn_r18_gen_seam.py for CONTA + SEAM: IRNet on crf_gen_conta_seam.py's
# masks, the random walk on conta_seam_r18_gen_trainaug.py's CAM files.
_base_ = ['./irn_r18_gen_seam.py']

train_dataloader = dict(dataset=dict(
    label_dir='work_dirs/crf_gen_conta_seam/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/conta_seam_r18_gen_trainaug/cams'))
