"""CAMs, seeds and pseudo-masks of your own images (mmseg's image_demo style).

Usage::

    python demo/image_demo.py IMG CONFIG CHECKPOINT [--out-dir DIR]
        [--labels CLASS ... | --labels labels.json] [--score-thr 0.5]
        [--bg-thr 0.15] [--pseudo-mask] [--t-fg 0.375] [--t-bg 0.10]
        [--batch-size 1] [--device cpu] [--show]

``IMG`` is an image file or a folder of images; ``CONFIG`` a classifier
config file or a config name of any ``configs/<algorithm>/`` folder (e.g.
``voc_r50``, ``cam_r50_voc``). Writes
into ``--out-dir`` the pictures ``vis/<name>.png`` (image | CAM of each class
| seed), the seed masks ``seeds/<name>.png``, with ``--pseudo-mask`` the CRF
pseudo-masks ``pseudo_masks/<name>.png`` (VOC palette PNGs of the label ids,
255 = ignore), the CAM files ``cams/<name>.npz`` and ``predictions.json``,
and prints the classes of each image.
"""
import json
import os.path as osp
from argparse import ArgumentParser
from typing import List, Optional

from mmc2am.apis import CAMInferencer
from mmc2am.apis.cam_inferencer import BG_THR, DEFAULT_PSEUDO_MASK, SCORE_THR


def parse_args(argv: Optional[List[str]] = None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', help='image file or folder of images')
    parser.add_argument('config', help='config file or config name')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out-dir', default='work_dirs/image_demo',
        help='folder of the pictures, masks and CAM files')
    parser.add_argument(
        '--labels', nargs='+', default=None,
        help='the classes in the image(s) (names or 0-based indices, used '
        'for every image), or a JSON file {file stem: [classes]}; without '
        'it the classes are predicted')
    parser.add_argument(
        '--pseudo-mask', action='store_true',
        help='also make CRF pseudo-masks (IRN confident labels)')
    # the inferencer's defaults
    for flag, default, text in (
            ('--score-thr', SCORE_THR,
             'sigmoid score from which a class is predicted'),
            ('--bg-thr', BG_THR, 'background threshold of the seeds'),
            ('--t-fg', DEFAULT_PSEUDO_MASK['t_fg'],
             'pseudo-mask confident-foreground background score'),
            ('--t-bg', DEFAULT_PSEUDO_MASK['t_bg'],
             'pseudo-mask confident-background background score'),
            ('--wait-time', 0, 'seconds to show each picture')):
        parser.add_argument(flag, type=float, default=default, help=text)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--device', default=None, help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--show', action='store_true', help='show the pictures in windows')
    return parser.parse_args(argv)


def read_labels(values: Optional[List[str]], num_images: int):
    """``--labels``: a JSON file's dict, or one class list for every image."""
    if values is None:
        return None
    if len(values) == 1 and values[0].endswith('.json'):
        if not osp.isfile(values[0]):
            raise FileNotFoundError(f'labels file not found: {values[0]}')
        with open(values[0]) as f:
            try:
                table = json.load(f)
            except ValueError as e:
                raise ValueError(f'{values[0]}: not valid JSON ({e})') from e
        if not isinstance(table, dict):
            raise ValueError(f'{values[0]}: expected a JSON object '
                             '{file stem: [classes]}')
        return table
    return [list(values)] * num_images


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    inferencer = CAMInferencer(args.config, args.checkpoint,
                               device=args.device)
    inputs = inferencer._inputs_to_list(args.img)
    pseudo_mask = dict(t_fg=args.t_fg, t_bg=args.t_bg) \
        if args.pseudo_mask else False
    result = inferencer(
        inputs,
        labels=read_labels(args.labels, len(inputs)),
        score_thr=args.score_thr,
        bg_thr=args.bg_thr,
        pseudo_mask=pseudo_mask,
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        show=args.show,
        wait_time=args.wait_time)
    for pred in result['predictions']:
        source = 'given' if pred['labels_given'] else 'predicted'
        scores = ', '.join(f'{c} {pred["scores"][k]:.2f}'
                           for c, k in zip(pred['classes'], pred['labels']))
        print(f'{pred["name"]}: {source} classes: {scores or "none"}; '
              f'picture {osp.join(args.out_dir, "vis", pred["name"])}.png')
    print(f'masks, CAM files and predictions.json in {args.out_dir}')
    return result


if __name__ == '__main__':
    main()
