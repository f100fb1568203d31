"""Bytes per image of CAM files versus float32 ``.npy`` of the same maps.

Runs the test pipeline of a classifier config on generated VOC-layout images
(``generate_voc_dataset``, written to a temporary folder unless
``--data-root`` is given), CAM inference with IRN's scales and flips, and
one CAM file per image as ``CAMFileHook`` writes it (``save_cam_file``:
float16 compressed ``.npz`` of the keys, stride-4 and full-resolution CAMs
of the present classes). Compared
with the same maps as float32 ``.npy`` (``cam`` and ``high_res``, what IRN
writes, without its pickle overhead), and the float16 round-trip error.

    python benchmarks/bench_cam_file.py [--config configs/cam/cam_r18_gen.py]
        [--checkpoint CKPT] [--images 8] [--size 375 500]
"""
import argparse
import io
import os
import os.path as osp
import tempfile

import numpy as np
import torch


def npy_bytes(arr: np.ndarray) -> int:
    buf = io.BytesIO()
    np.save(buf, arr.astype(np.float32))
    return len(buf.getvalue())


def plain_npz_bytes(keys, cam, high_res) -> int:
    """The same maps as plain float16 arrays in a deflated .npz."""
    buf = io.BytesIO()
    np.savez_compressed(buf, keys=keys, cam=cam.astype(np.float16),
                        high_res=high_res.astype(np.float16))
    return len(buf.getvalue())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/cam/cam_r18_gen.py')
    parser.add_argument('--checkpoint', default=None,
                        help='trained weights (default: random init)')
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500))
    args = parser.parse_args()
    torch.set_num_threads(2)

    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import DATASETS, MODELS

    import mmc2am  # noqa: F401
    from mmc2am.cam import (
        cam_file_path,
        load_cam_file,
        predict_cams,
        save_cam_file,
    )
    from mmc2am.testing import generate_voc_dataset

    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    tmp = tempfile.TemporaryDirectory()
    data_root = args.data_root
    if data_root is None:
        data_root = osp.join(tmp.name, 'VOC2012')
        generate_voc_dataset(data_root, num_train=args.images, num_val=1,
                             num_aug=0, img_size=tuple(args.size), seed=0)
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = data_root
    dataset = DATASETS.build(ds_cfg)

    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    test_cfg = dict(model.test_cfg)
    scales = test_cfg.get('scales', (1.0, 0.5, 1.5, 2.0))

    cam_dir = osp.join(tmp.name, 'cams')
    n = min(args.images, len(dataset))
    file_bytes = npy32 = plain16 = 0
    err = 0.0
    pixels = maps = 0
    for i in range(n):
        data = model.data_preprocessor(pseudo_collate([dataset[i]]), False)
        sample = predict_cams(model, data['inputs'], data['data_samples'],
                              scales=scales)[0]
        path = cam_file_path(cam_dir, sample.img_id)
        save_cam_file(path, sample.cam_keys.numpy(), sample.cam.numpy(),
                      sample.high_res_cam.numpy())
        file_bytes += os.path.getsize(path)
        npy32 += npy_bytes(sample.cam.numpy()) + npy_bytes(
            sample.high_res_cam.numpy())
        plain16 += plain_npz_bytes(sample.cam_keys.numpy(),
                                   sample.cam.numpy(),
                                   sample.high_res_cam.numpy())
        back = load_cam_file(path)
        err = max(err, float(np.abs(back['high_res'] -
                                    sample.high_res_cam.numpy()).max()))
        pixels += int(np.prod(sample.img_shape[:2]))
        maps += len(sample.cam_keys)

    print(f'{osp.basename(args.config)} '
          f'({"trained: " + args.checkpoint if args.checkpoint else "random init"}),'
          f' {n} images {args.size[0]}x{args.size[1]}, {maps / n:.2f} '
          'classes/image, scales', scales)
    print(f'  CAM files (float16, filtered+deflate): {file_bytes / n:10.0f} '
          'bytes/image')
    print(f'  unfiltered float16 .npz (deflate):  {plain16 / n:10.0f} '
          f'bytes/image ({plain16 / npy32:.3f}x)')
    print(f'  float32 .npy of the same maps:      {npy32 / n:10.0f} '
          'bytes/image')
    print(f'  ratio {file_bytes / npy32:.3f}x (target <= 0.3x); '
          f'max |float16 - float32| {err:.1e}')
    tmp.cleanup()


if __name__ == '__main__':
    main()
