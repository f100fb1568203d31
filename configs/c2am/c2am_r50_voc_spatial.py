# C2AM with the spatial use of the global CAM: the per-pixel logit map pooled
# with G_c (resized to the feature size) as weights,
# scores_c = sum_hw(conv(f)_c * G_c) / sum_hw(G_c), then BCE-with-logits.
# (The reference form in c2am_r50_voc.py reduces to a per-class scale of the logits.)
_base_ = ['./c2am_r50_voc.py']

model = dict(head=dict(adjustment='front_door_spatial'))
