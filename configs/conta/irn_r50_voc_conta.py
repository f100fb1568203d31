# IRN of the CONTA round: IRNet on crf_voc_conta.py's masks, the random walk
# from conta_r50_voc_trainaug.py's CAM files, with plain CAM's IRN settings
# (irn_r50_voc_cam.py), as CONTA's pseudo_mask/run_sample.py runs IRN's
# steps unchanged. Its masks are the next round's confounder set
# (conta_r50_voc.py's ConfounderSetHook mask_dir).
#   python tools/train.py configs/conta/irn_r50_voc_conta.py
#   python tools/test.py configs/conta/irn_r50_voc_conta.py \
#       work_dirs/irn_r50_voc_conta/epoch_3.pth
_base_ = ['../irn/irn_r50_voc_cam.py']

train_dataloader = dict(dataset=dict(label_dir='work_dirs/crf_voc_conta/masks'))
test_dataloader = dict(dataset=dict(
    cam_dir='work_dirs/conta_r50_voc_trainaug/cams'))
