# The stages of tools/run_pipeline.py on PASCAL VOC 2012 + SBD (README: data
# preparation), ResNet-50: gen.py's methods with the VOC configs, and CONTA
# (one round on plain CAM's masks).
#   python tools/run_pipeline.py --preset voc --work-dir work_dirs/voc
# The same configs on generated VOC-sized data (--generate: 375x500 and
# 500x375 images of the 20 classes, XML annotations) with every stage capped
# to a few images and one iteration (--smoke: below), pretrained weights off;
# minutes on a CPU (README: the VOC-sized smoke run):
#   python tools/run_pipeline.py --preset voc --generate --smoke \
#       --methods cam c2am c2am_spatial recam advcam conta \
#       --work-dir work_dirs/voc_smoke
_base_ = ['./gen.py']

# --refine's default: CRF masks, then IRN's random walk on them, whose
# masks train the segmenter (the published pipelines')
refine = ['crf', 'irn']

# a link in the work folder to --data-root (default: this folder of the
# repository); with --generate, generated there instead
data_root = 'data/VOCdevkit/VOC2012'
generate_data = False
# --generate: the generator's option defaults (tools/generate_voc.py; the
# command line's --num-train ... override them). VOC's two usual sizes
# (height x width), taken in turn; the 20 classes; 48 train_aug images, 3
# batches of the classifiers' 16.
generator = dict(
    img_sizes=['375x500', '500x375'],
    classes=[
        'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
        'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike',
        'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'
    ],
    num_train=16,
    num_val=8,
    num_aug=32)
segmenter = 'deeplabv3plus_r50-d8_voc_pseudo.py'
stage_configs = dict(crf='crf_voc_{method}.py', irn='irn_r50_voc_{method}.py')
# the methods with VOC configs, whole (_delete_: a method gen.py adds for
# the generated data only is not one of them)
methods = dict(
    _delete_=True,
    cam=dict(name='CAM', classifier='cam_r50_voc.py'),
    c2am=dict(name='C2AM', start='cam', classifier='c2am_r50_voc.py'),
    c2am_spatial=dict(
        name='C2AM spatial', start='cam',
        classifier='c2am_r50_voc_spatial.py'),
    # ReCAM fine-tunes the CAM network with layer1-2 trained, as the
    # reference (recam_r50_voc.py's load_from): cam_l12 below
    recam=dict(
        name='ReCAM', start='cam_l12', classifier='recam_r50_voc.py'),
    # AdvCAM trains nothing: a test mode of plain CAM's classifier
    advcam=dict(
        name='AdvCAM', start='cam', trains=False,
        classifier='advcam_r50_voc.py',
        # --smoke: one climbing step per scale instead of 27 (13 at 0.5)
        smoke=dict(
            classifier=[
                'model.test_cfg.cam_generator.adv_iter=1',
                'model.test_cfg.cam_generator.scale_iters=[1,1,1,1]'
            ],
            cams=[
                'model.test_cfg.cam_generator.adv_iter=1',
                'model.test_cfg.cam_generator.scale_iters=[1,1,1,1]'
            ])),
    # one CONTA round: fine-tunes plain CAM's classifier with the confounder
    # set of plain CAM's masks (its ConfounderSetHook's mask_dir, set to the
    # masks of --refine's last refinement: IRN's, as CONTA's pipeline,
    # with --refine crf irn)
    conta=dict(
        name='CONTA',
        start='cam',
        classifier='conta_r50_voc.py',
        start_masks='custom_hooks.0.mask_dir'),
    # C2AM's recorded 51.4 / 69.6 recipe (commit 7cb39df of its code:
    # configs/c2am/c2am_r50_voc_7cb39df.py), from the layer1-2 CAM
    c2am_7cb39df=dict(
        name='C2AM (7cb39df)', start='cam_l12',
        classifier='c2am_r50_voc_7cb39df.py'),
    seam=dict(name='SEAM', classifier='seam_r50_voc.py'),
    # CONTA's round on SEAM's classifier and SEAM's masks (no public code
    # combines them: configs/conta/README.md)
    conta_seam=dict(
        name='CONTA+SEAM', start='seam', classifier='conta_seam_r50_voc.py',
        start_masks='custom_hooks.0.mask_dir'),
    rca=dict(
        name='RCA', classifier='rca_r50_voc.py',
        # --smoke: per-class stacks of 8 channels instead of 512 (the
        # reference's 20 stacks on 2048 channels hold ~280 M parameters)
        smoke=dict(
            classifier=['model.head.head_channels=8'],
            cams=['model.head.head_channels=8'])),
    # ReCAM's start point: plain CAM with layer1-2 trained
    # (cam_r50_voc_l12.py), its classifier and seeds only
    cam_l12=dict(
        name='CAM, layer1-2 trained', classifier='cam_r50_voc_l12.py',
        until='seeds'),
)
# one stage at a time with the threads the machine gives; no figure (it
# draws generated images); no measured stage times (each counts 60 s)
jobs = 1
stage_threads = None
figure = False
expected_seconds = dict(_delete_=True)

# --smoke: each stage on one image and one iteration (every epoch-based
# training one batch of 1, the segmenter one iteration of a batch of 2 from
# the same image: its ASPP image pool needs 2; the tests, C2AM's global CAM
# and CONTA's confounder set on 1 image), pretrained weights off (the
# configs' ImageNet URLs; the fine-tunings start from the start method's
# last checkpoint); data loading in the main process. Everything else is
# the configs' own: ResNet-50, 512 crops, the CAM scales, CRF, IRN,
# DeepLabV3+. The results are meaningless (random init): the run checks that
# every stage runs.
# Per config field (the classifier's options apply to its seed test too),
# added to each method's stages; a method's own `smoke` adds more.
_loaders = [
    f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader',
                                     'test_dataloader')
    for key in ('num_workers=0', 'persistent_workers=False')
]
_epochs = [
    'train_cfg.max_epochs=1', 'train_dataloader.batch_size=1',
    'train_dataloader.dataset.indices=1'
]
_tests = ['test_dataloader.dataset.indices=1']
smoke = dict(
    classifier=_epochs + _tests + _loaders + [
        'val_dataloader.dataset.indices=1', 'model.backbone.init_cfg=None'
    ],
    cams=_tests + _loaders[4:] + ['model.backbone.init_cfg=None'],
    crf=_tests + _loaders[4:],
    irn=_epochs + _tests + _loaders[:2] + _loaders[4:] +
    ['model.backbone.init_cfg=None'],
    segmenter=[
        'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1',
        'train_dataloader.batch_size=2', 'train_dataloader.dataset.indices=1',
        'val_dataloader.dataset.indices=1',
        'test_dataloader.dataset.indices=1', 'model.pretrained=None'
    ] + _loaders)
