# irn_r18_gen_cam.py (IRN's background score 0.25) for the paste form
# (cam_r18_gen_paste.py, issue 26): IRNet on crf_gen_paste.py's masks, the
# random walk on cam_r18_gen_paste_trainaug.py's CAM files
# (tools/run_pipeline.py --methods paste --refine irn).
_base_ = ['./irn_r18_gen_cam.py']

train_dataloader = dict(dataset=dict(
    label_dir='work_dirs/crf_gen_paste/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r18_gen_paste_trainaug/cams'))
