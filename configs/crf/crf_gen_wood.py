# CRF pseudo-masks for the wood form (cam_r18_gen_wood.py, issue 26) on
# the generated data: crf_gen_cam.py's rule (thresholds from the method's
# own seed sweep, t_fg = t*, t_bg = t* - 0.10) on its seed sweep and CAM
# files.
#   python tools/test.py configs/cam/cam_r18_gen_wood.py \
#       work_dirs/cam_r18_gen_wood/epoch_5.pth     # the seeds: t* (first)
#   python tools/test.py configs/cam/cam_r18_gen_wood_trainaug.py \
#       work_dirs/cam_r18_gen_wood/epoch_5.pth     # the CAM files
#   python tools/test.py configs/crf/crf_gen_wood.py
_base_ = ['./crf_gen_cam.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/cam_r18_gen_wood/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/cam_r18_gen_wood_trainaug/cams'))
