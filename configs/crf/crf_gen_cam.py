# CRF pseudo-masks for plain CAM on the generated data (tools/generate_voc.py):
# crf_voc_cam.py with this data's folders and thresholds derived from
# the method's own seed sweep instead of IRN's VOC constants (0.30 / 0.05).
#   python tools/test.py configs/cam/cam_r18_gen.py \
#       work_dirs/cam_r18_gen/epoch_15.pth          # the seeds: t* (first)
#   python tools/test.py configs/crf/crf_gen_cam.py
_base_ = ['./crf_voc_cam.py']

# The rule (CRFConfidentLabels, thresholds_from_seeds): with t* the best
# background threshold of the method's seed sweep on train (SeedMetric's
# best_threshold in the seed run's test_metrics.json),
#   t_fg = t* + fg = t*,   t_bg = t* + bg = t* - 0.10
# clipped to [0, 1] (t_bg <= t_fg). Why: on this context-confounded data the
# CAMs spread over each class's context and t* is ~0.55, far above VOC's
# ~0.15, so IRN's 0.30 / 0.05 labelled 69 % of the real background pixels as
# an object (and 22 % ignore), which the segmenter learnt (6-8 val mIoU,
# issue 13). t_fg = t*: on 64 px images a higher t_fg shrinks the CRF-refined
# objects fast (t* + 0.05: object pixels labelled as the object 70 -> 57 %);
# t_bg = t* - 0.10 (IRN's own gap on VOC: best seed ~0.15, t_bg 0.05) turns
# half of the object pixels that the t* seed calls background into ignore
# (27 -> 14 %) at 5 % ignored pixels and the same mIoU (59.6 -> 59.5, plain
# CAM, 8-class data; measured on the earlier pipeline).
# The metrics path is relative to the current folder, like the other
# default work dirs: the seed stage of tools/run_pipeline.py writes it there.
model = dict(
    t_fg=None,
    t_bg=None,
    thresholds_from_seeds=dict(
        metrics='work_dirs/cam_r18_gen/test_metrics.json', fg=0.0, bg=-0.10))
test_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(
        data_root='data/gen_voc/VOC2012',
        cam_dir='work_dirs/cam_r18_gen_trainaug/cams'))
