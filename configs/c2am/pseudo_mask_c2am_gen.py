# pseudo_mask_c2am_voc.py on the generated data (tools/generate_voc.py).
_base_ = ['./pseudo_mask_c2am_voc.py']

test_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(
        data_root='data/gen_voc/VOC2012',
        cam_dir='work_dirs/c2am_r18_gen_trainaug/cams',
        out_dir='work_dirs/pseudo_mask_c2am_gen/masks'))
