# RCA (Zhou et al., CVPR 2022, "Regional Semantic Contrast and Aggregation
# for Weakly Supervised Semantic Segmentation"; maeve07/RCA) on VOC 2012
# train_aug, without saliency, on IRN's ResNet-50 (RCA: VGG16 in the public
# code, ResNet-38 for the published 74.1; configs/rca/README.md lists the
# differences).
# Where the values come from (maeve07/RCA):
# - memory: models/rca.py:75-78, 93-100 (500 entries per class, 10 centres,
#   momentum 0.99 on a written slot, N(0, 1) initial queues and centres);
#   enqueue when the class probability > 0.7 (rca.py:265) of the region under
#   softmax(coarse map) > its mean (rca.py:262-269);
# - clustering: k-means of each queue at the start of every epoch but the
#   first (rca.py:104-110): RCAMemoryHook after every epoch but the last;
# - aggregation: rca.py:120-135 (no softmax, logits x 20 / 10);
# - heads: 20 per-class stacks of three 3x3 convs of 512 + ReLU and a 1x1
#   conv (rca.py:40-52), a coarse head of the same form over all classes
#   (rca.py:31-39), N(0, 0.01) conv weights (rca.py:86-91);
# - losses: train.py:101-111: multi-label soft margin of the fine scores +
#   0.4 x that of the coarse scores, + 0.01 x the mixup InfoNCE (t 0.07,
#   Beta(8, 8), rca.py:79-81, 182-239) from the third epoch (index 2);
# - optimizer: train.py:30-45, 63-67: SGD lr 1e-3, momentum 0.9, Nesterov,
#   weight decay 5e-4, the heads and the contrast embedding ('extra*') x10
#   (x20 for their biases: not reproduced, mmengine's bias_lr_mult does not
#   combine with custom_keys), the aggregation layers x1; 30 epochs, batch 8,
#   lr x0.1 at epochs 5 and 10 (my_optim.reduce_lr, decay_points '5,10').
#   python tools/train.py configs/rca/rca_r50_voc.py
#   python tools/test.py configs/rca/rca_r50_voc.py \
#       work_dirs/rca_r50_voc/epoch_30.pth  # seeds on VOC train
_base_ = ['../cam/cam_r50_voc.py']

max_epochs = 30

model = dict(
    head=dict(
        _delete_=True,
        type='RCAHead',
        num_classes=20,
        in_channels=2048,
        queue_len=500,
        num_centres=10,
        queue_momentum=0.99,
        enqueue_thr=0.7,
        queue_init='randn',
        embed_channels=2048,
        attention='linear',
        head_convs=3,
        head_channels=512,
        coarse_weight=0.4,
        contrast_weight=0.01,
        contrast_start_epoch=2,
        temperature=0.07,
        mixup_alpha=8.0))

custom_hooks = [
    dict(type='RCAMemoryHook', interval=1, n_init=10, max_iter=100, seed=0)
]

train_dataloader = dict(batch_size=8)

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=1e-3, momentum=0.9, nesterov=True,
        weight_decay=5e-4),
    # the longest matching key wins: the new heads and the contrast
    # embedding x10, the aggregation layers at the backbone's lr
    paramwise_cfg=dict(custom_keys={
        'head': dict(lr_mult=10.0),
        'head.query': dict(lr_mult=1.0),
        'head.key': dict(lr_mult=1.0),
        'head.value': dict(lr_mult=1.0),
        'head.aggregate_conv': dict(lr_mult=1.0),
        'head.concat_project': dict(lr_mult=1.0),
    }))
param_scheduler = dict(
    _delete_=True,
    type='MultiStepLR',
    by_epoch=True,
    milestones=[5, 10],
    gamma=0.1)
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
