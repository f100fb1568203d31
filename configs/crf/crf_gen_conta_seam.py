# CRF pseudo-masks for CONTA + SEAM on the generated data: crf_gen_cam.py's
# rule on conta_seam_r18_gen.py's seed sweep and CAM files.
#   python tools/test.py configs/conta/conta_seam_r18_gen.py \
#       work_dirs/conta_seam_r18_gen/epoch_5.pth    # the seeds: t* (first)
#   python tools/test.py configs/crf/crf_gen_conta_seam.py
_base_ = ['./crf_gen_cam.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/conta_seam_r18_gen/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/conta_seam_r18_gen_trainaug/cams'))
