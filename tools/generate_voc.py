"""Generate the synthetic, context-confounded PASCAL VOC 2012 look-alike.

Example::

    python tools/generate_voc.py data/VOCdevkit/VOC2012 \
        --num-train 400 --num-val 200 --num-aug 800 --size 64 --seed 0
    # VOC-sized: landscape and portrait images in turn, all 20 classes
    python tools/generate_voc.py data/voc_sized/VOC2012 --size 375x500 500x375
"""
import argparse
import os
import sys
import time
from typing import List, Tuple, Union

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmc2am.testing import generate_voc_dataset  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a VOC2012-layout dataset (JPEGImages, Annotations, '
        'SegmentationClass, SegmentationClassAug, ImageSets/Segmentation, '
        'meta.json) whose classes are confounded by their background context.')
    parser.add_argument('out_dir', help='the VOC2012 root to write')
    parser.add_argument('--num-train', type=int, default=40,
                        help='images in train.txt (default: 40)')
    parser.add_argument('--num-val', type=int, default=20,
                        help='images in val.txt (default: 20)')
    parser.add_argument('--num-aug', type=int, default=40,
                        help='extra images in aug.txt / trainaug.txt (default: 40)')
    parser.add_argument('--size', nargs='+', default=['64'], metavar='S',
                        help='image side, or HEIGHT WIDTH, or sizes HEIGHTxWIDTH '
                        '... that the images take in turn (VOC: 375x500 '
                        '500x375; default: 64)')
    parser.add_argument('--seed', type=int, default=0, help='seed (default: 0)')
    parser.add_argument('--context-prob', type=float, default=0.8,
                        help='probability that the background is the context of '
                        "the first object's class (default: 0.8)")
    parser.add_argument('--max-objects', type=int, default=3,
                        help='most objects per image (default: 3)')
    parser.add_argument('--classes', nargs='+', default=None,
                        help='VOC class names to draw (default: all 20)')
    args = parser.parse_args(argv)
    args.size = parse_size(parser, args.size)
    return args


def parse_size(parser: argparse.ArgumentParser, values: List[str]
               ) -> Union[int, Tuple[int, int], List[Tuple[int, int]]]:
    """``--size``'s values as ``generate_voc_dataset``'s ``img_size``: a
    side, a ``(height, width)`` pair, or a list of pairs (``HxW`` tokens)."""
    try:
        if any('x' in v for v in values):
            return [tuple(int(s) for s in v.split('x', 1))
                    for v in values]
        if len(values) in (1, 2):
            ints = [int(v) for v in values]
            return ints[0] if len(ints) == 1 else tuple(ints)
    except ValueError:
        pass
    parser.error('--size takes one value (side), two (height width) or '
                 f'HEIGHTxWIDTH tokens, got {" ".join(values)}')


def main(argv=None) -> int:
    args = parse_args(argv)
    size = args.size
    start = time.perf_counter()
    try:
        info = generate_voc_dataset(
            args.out_dir, num_train=args.num_train, num_val=args.num_val,
            num_aug=args.num_aug, img_size=size, seed=args.seed,
            context_prob=args.context_prob, max_objects=args.max_objects,
            classes=args.classes)
    except (ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    n = {k: len(v) for k, v in info['splits'].items()}
    sizes = info['img_size']
    sizes = [sizes] if isinstance(sizes[0], int) else sizes
    print(f"wrote {n['train']} train, {n['val']} val, {n['aug']} aug images "
          f"({n['trainaug']} in trainaug) of "
          f"{' / '.join(f'{h}x{w}' for h, w in sizes)} to {info['root']} in "
          f'{time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
