# irn_r18_gen_cam.py (IRN's background score 0.25) for the wood form
# (cam_r18_gen_wood.py, issue 26): IRNet on crf_gen_wood.py's masks, the
# random walk on cam_r18_gen_wood_trainaug.py's CAM files
# (tools/run_pipeline.py --methods wood --refine irn).
_base_ = ['./irn_r18_gen_cam.py']

train_dataloader = dict(dataset=dict(
    label_dir='work_dirs/crf_gen_wood/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r18_gen_wood_trainaug/cams'))
