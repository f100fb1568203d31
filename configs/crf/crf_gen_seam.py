# CRF pseudo-masks for SEAM on the generated data: crf_gen_cam.py's rule
# (thresholds from the method's own seed sweep, t_fg = t*, t_bg = t* - 0.10)
# on SEAM's seed sweep and CAM files (the PCM CAMs, min-max normalised).
#   python tools/test.py configs/seam/seam_r18_gen.py \
#       work_dirs/seam_r18_gen/epoch_15.pth         # the seeds: t* (first)
#   python tools/test.py configs/crf/crf_gen_seam.py
_base_ = ['./crf_gen_cam.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/seam_r18_gen/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/seam_r18_gen_trainaug/cams'))
