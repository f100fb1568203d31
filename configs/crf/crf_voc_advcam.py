# CRF pseudo-masks for AdvCAM: AdvCAM's thresholds t_fg 0.35 / t_bg 0.15
# (jbeomlee93/AdvCAM run_sample.py:45-46, conf_fg_thres / conf_bg_thres; its
# step/cam_to_ir_label.py:29-46 applies them to the adversarial CAMs as they
# are, no power), from the CAM files of advcam_r50_voc_trainaug.py.
#   python tools/test.py configs/crf/crf_voc_advcam.py
_base_ = ['./crf_voc_cam.py']

model = dict(t_fg=0.35, t_bg=0.15)
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/advcam_r50_voc_trainaug/cams'))
