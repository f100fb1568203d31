# CRF pseudo-masks for AdvCAM on the generated data: crf_gen_cam.py's
# rule (thresholds from the method's own seed sweep, t_fg = t*,
# t_bg = t* - 0.10) on AdvCAM's seed sweep and CAM files. The seed test runs
# advcam_r18_gen.py on cam_r18_gen's checkpoint in its own work dir, so its
# metrics do not overwrite plain CAM's.
#   python tools/test.py configs/advcam/advcam_r18_gen.py \
#       work_dirs/cam_r18_gen/epoch_15.pth          # the seeds: t* (first)
#   python tools/test.py configs/crf/crf_gen_advcam.py
_base_ = ['./crf_gen_cam.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/advcam_r18_gen/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/advcam_r18_gen_trainaug/cams'))
