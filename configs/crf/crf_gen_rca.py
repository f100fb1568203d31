# CRF pseudo-masks for RCA on the generated data: crf_gen_cam.py's rule
# (thresholds from the method's own seed sweep, t_fg = t*, t_bg = t* - 0.10)
# on RCA's seed sweep and CAM files. RCA's own labels (its gen_labels.py)
# need saliency maps; configs/rca/README.md lists that difference.
#   python tools/test.py configs/rca/rca_r18_gen.py \
#       work_dirs/rca_r18_gen/epoch_15.pth          # the seeds: t* (first)
#   python tools/test.py configs/crf/crf_gen_rca.py
_base_ = ['./crf_gen_cam.py']

model = dict(thresholds_from_seeds=dict(
    metrics='work_dirs/rca_r18_gen/test_metrics.json'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/rca_r18_gen_trainaug/cams'))
