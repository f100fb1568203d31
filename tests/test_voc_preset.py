"""The VOC-sized preset (issue 24): the generator at VOC's image sizes with
XML annotations, and ``--preset voc --generate --smoke``, which runs the real
VOC configs (ResNet-50, 512 crops, CRF, IRN, DeepLabV3+) with every stage
capped to a few images and one iteration, pretrained weights off."""
import argparse
import importlib.util
import json
import os
import os.path as osp
import xml.etree.ElementTree as ET

import numpy as np
from mmengine.config import Config
from PIL import Image

from mmc2am.pipeline import EndedRun, Engine, Methods, generator_options
from mmc2am.testing import VOC_CLASSES, generate_voc_dataset, run_tool
from mmc2am.utils import find_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rp = _tool('run_pipeline')
SIX = ['cam', 'c2am', 'c2am_spatial', 'recam', 'advcam', 'conta']


def test_voc_sized_images_and_xml(tmp_path):
    """Landscape 375x500 and portrait 500x375 in turn, every file of an image
    at its size; the XML's size and object names are the image's and its
    mask's; all 20 classes drawn."""
    info = generate_voc_dataset(
        str(tmp_path), num_train=2, num_val=1, num_aug=1,
        img_size=[(375, 500), (500, 375)], seed=0)
    ids = info['splits']['train'] + info['splits']['val'] + \
        info['splits']['aug']
    assert len(ids) == 4
    for i, img_id in enumerate(ids):
        h, w = [(375, 500), (500, 375)][i % 2]
        with Image.open(tmp_path / 'JPEGImages' / f'{img_id}.jpg') as img:
            assert img.size == (w, h)  # PIL: (width, height)
        with Image.open(tmp_path / 'SegmentationClassAug' /
                        f'{img_id}.png') as png:
            assert png.size == (w, h)
            mask = np.asarray(png)
        root = ET.parse(tmp_path / 'Annotations' / f'{img_id}.xml').getroot()
        assert (int(root.find('size/width').text),
                int(root.find('size/height').text)) == (w, h)
        names = sorted({o.find('name').text for o in root.iter('object')})
        assert names == sorted(VOC_CLASSES[c] for c in np.unique(mask)
                               if c != 0)
        for o in root.iter('object'):  # VOC's 1-based inclusive boxes
            box = [int(o.find(f'bndbox/{k}').text)
                   for k in ('xmin', 'ymin', 'xmax', 'ymax')]
            assert 1 <= box[0] <= box[2] <= w and 1 <= box[1] <= box[3] <= h
    with open(tmp_path / 'meta.json') as f:
        meta = json.load(f)
    assert meta['img_size'] == [[375, 500], [500, 375]]
    assert meta['drawn_classes'] == list(VOC_CLASSES[1:])
    assert info['img_size'] == ((375, 500), (500, 375))
    # the command line's HEIGHTxWIDTH tokens
    gen = _tool('generate_voc')
    assert gen.parse_args(['x', '--size', '375x500', '500x375']).size == [
        (375, 500), (500, 375)]
    assert gen.parse_args(['x', '--size', '48', '64']).size == (48, 64)
    assert gen.parse_args(['x']).size == 64


def test_voc_preset_generate_and_smoke_settings(tmp_path):
    """--generate takes voc.py's generator defaults; --smoke adds voc.py's
    caps to the stages of every method (its own on AdvCAM), the configs stay
    the real ones; CONTA trains on plain CAM's masks once they exist."""
    args = rp.parse_args([
        '--preset', 'voc', '--generate', '--smoke', '--work-dir',
        str(tmp_path), '--methods', *SIX])
    assert args.refine == ['crf', 'irn']  # the voc preset's default
    opts = generator_options(args, args.context_prob)
    assert opts['img_size'] == [[375, 500], [500, 375]]
    assert opts['drawn_classes'] == list(VOC_CLASSES[1:])
    assert (opts['num_train'], opts['num_val'], opts['num_aug']) == (16, 8,
                                                                     32)
    voc = Methods('voc')
    # and ReCAM's start point, CAM with layer1-2 trained: its seeds only
    assert voc.keys == SIX + ['c2am_7cb39df', 'seam', 'conta_seam', 'rca',
                             'cam_l12']
    assert voc.start('recam') == 'cam_l12'
    assert [st.kind for st in voc.graph(['cam_l12'], 'irn')[0].values()] \
        == ['classifier', 'seeds']
    items = voc.smoke_options(voc.to_run(SIX))
    by_stem = {}
    for item in items:
        stem, opt = item.split(':', 1)
        by_stem.setdefault(stem, []).append(opt)
    seg = 'deeplabv3plus_r50-d8_voc_pseudo'
    for method in SIX:
        cls, cams, crf, irn = (voc.config(method, f).replace('.py', '')
                               for f in ('classifier', 'cams', 'crf', 'irn'))
        for stem in (cls, irn):  # one iteration of a batch of 1
            assert {'train_cfg.max_epochs=1', 'train_dataloader.batch_size=1',
                    'train_dataloader.dataset.indices=1',
                    'test_dataloader.dataset.indices=1',
                    'model.backbone.init_cfg=None'} <= set(by_stem[stem])
        assert 'test_dataloader.dataset.indices=1' in by_stem[cams]
        assert 'test_dataloader.dataset.indices=1' in by_stem[crf]
        adv = [o for o in by_stem[cls] if 'cam_generator' in o]
        assert bool(adv) == (method == 'advcam')
    assert {'train_cfg.max_iters=1', 'model.pretrained=None',
            'train_dataloader.batch_size=2',
            'train_dataloader.dataset.indices=1'} <= set(by_stem[seg])
    # the capped options name keys of the real configs (nothing added but
    # the datasets' indices), which keep R50, 512 crops and their URLs
    cam = Config.fromfile(find_config('cam_r50_voc.py'))
    assert cam.model.backbone.depth == 50
    assert cam.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    assert cam.train_cfg.max_epochs == 5
    # CONTA: cam's classifier and last masks first; the fine-tunings start
    # from cam's last checkpoint with --smoke
    pipe = rp.Pipeline(argparse.Namespace(
        preset='voc', work_dir=str(tmp_path), gpus=1, refine=['crf', 'irn'],
        methods=voc.to_run(['conta']), data_root=None, smoke=True,
        until='seeds'))
    nodes, deps = pipe.graph()
    assert [nodes['cam', i].config for i in (3, 4, 5)] == [
        'crf_voc_cam.py', 'irn_r50_voc_cam.py', 'irn_r50_voc_cam.py']
    assert deps['conta', 0] == [('cam', 0), ('cam', 5)]
    assert nodes['conta', 0].opts == (
        'custom_hooks.0.mask_dir=work_dirs/irn_r50_voc_cam/masks', )
    assert nodes['conta', 0].load_of == 'work_dirs/cam_r50_voc'
    assert ('conta', 2) not in nodes  # --until seeds


def test_cam_stages_on_the_real_configs(tmp_path, monkeypatch):
    """Plain CAM's stages up to its IRN masks (classifier, seeds, CAM files,
    CRF, IRNet and its walk) on the real VOC configs with the smoke caps, on
    generated images (small: 64x96 / 96x64, the only change for the test;
    the 512 crops stay), run in this process. The segmenter's stages (one
    DeepLabV3+ R50-D8 iteration at 512 x 512: about a minute of this CPU)
    ran in the README's smoke run of every method."""
    work = tmp_path / 'run'
    argv = ['--preset', 'voc', '--generate', '--smoke', '--work-dir',
            str(work), '--methods', 'cam', '--until', 'masks',
            '--img-sizes', '64x96', '96x64', '--num-train', '1', '--num-val',
            '1', '--num-aug', '0']
    args = rp.parse_args(argv)
    # the data where the pipeline looks for it, in this process
    generate_voc_dataset(
        str(work / 'data' / 'VOCdevkit' / 'VOC2012'), num_train=1,
        num_val=1, num_aug=0, img_size=[(64, 96), (96, 64)], seed=args.seed,
        context_prob=args.context_prob, max_objects=args.max_objects,
        classes=args.classes)

    def start(self, stage, folder, name):  # the stage in this process
        cmd = self.command(stage, folder)
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            run_tool(cmd[1], cmd[2:])
        finally:
            os.chdir(cwd)
        return EndedRun(0, self.log_path(stage, folder))

    monkeypatch.setattr(Engine, 'start', start)
    args.methods = rp.load_methods(args).to_run(args.methods)
    rows = rp.Pipeline(args)()
    assert set(rows) == {'cam'}
    row = rows['cam']
    assert None not in (row['seed_miou'], row['pseudo_crf_miou'],
                        row['pseudo_irn_miou']), rows
    done = sorted(p.name for p in work.glob('work_dirs/*/.done_*'))
    assert done == [
        '.done_test_cam_r50_voc', '.done_test_cam_r50_voc_trainaug',
        '.done_test_crf_voc_cam', '.done_test_irn_r50_voc_cam',
        '.done_train_cam_r50_voc', '.done_train_irn_r50_voc_cam'], done
    # one iteration each: the classifier and IRNet, on the first image
    for folder in ('cam_r50_voc', 'irn_r50_voc_cam'):
        assert (work / 'work_dirs' / folder / 'epoch_1.pth').is_file()
    masks = sorted(p.name for p in (work / 'work_dirs' / 'irn_r50_voc_cam' /
                                    'masks').glob('*.png'))
    assert masks == ['gen_000000.png']
