# CRF pseudo-masks for ReCAM on the generated data: crf_gen_cam.py's
# rule (thresholds from the method's own seed sweep, t_fg = t*,
# t_bg = t* - 0.10) on ReCAM's seed sweep and CAM files.
#   python tools/test.py configs/recam/recam_r18_gen.py \
#       work_dirs/recam_r18_gen/epoch_5.pth         # the seeds: t* (first)
#   python tools/test.py configs/crf/crf_gen_recam.py
_base_ = ['./crf_gen_cam.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/recam_r18_gen/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/recam_r18_gen_trainaug/cams'))
