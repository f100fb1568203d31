"""A generated PASCAL VOC 2012 look-alike where context confounds the classes.

Real VOC cannot be downloaded on the machines this project is tested on, so
the demo and every test run on this dataset instead. It keeps VOC's folder
layout, file formats, class ids and palette, so mmseg's ``PascalVOCDataset``
and the stock ``voc12`` / ``voc12aug`` configs read it unchanged.

What makes it a useful stand-in for C2AM is the confounder: every class has a
typical background (its *context*: a colour plus a texture such as stripes,
checks, dots or smooth noise), and an image's background is the context of
its first object's class with probability ``context_prob``. A classifier can
therefore partly recognise a class from its background, as boats are
recognised from water in VOC, and its CAMs spill onto the background. The
ground truth of that confounder (which context each image got) is returned
and saved in ``meta.json``, so it can be measured rather than assumed.

Layout written under ``out_dir`` (the ``VOC2012`` folder itself)::

    JPEGImages/gen_000000.jpg            RGB, every image
    Annotations/gen_000000.xml           VOC XML: size, one <object> (name,
                                         difficult 0, bndbox of its visible
                                         pixels) per visible object, every image
    SegmentationClass/gen_000000.png     palette PNG, train + val images
    SegmentationClassAug/gen_000000.png  palette PNG, every image
    ImageSets/Segmentation/train.txt     num_train ids
    ImageSets/Segmentation/val.txt       num_val ids
    ImageSets/Segmentation/aug.txt       the num_aug extra ids
    ImageSets/Segmentation/trainaug.txt train + aug (never val), as VOC's
                                         10,582-image train_aug
    meta.json                            classes, contexts, per-image truth

Masks hold 0 for background and the VOC id (1..20) of each object's class;
no 255 (ignore) borders are drawn. The XML annotations name exactly the
classes of the mask (an object hidden by later ones is left out of both), so
image labels read from XML, as IRN's ``cls_labels.npy`` is, equal the labels
read from the mask.
"""
import io
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from mmc2am.utils.io import atomic_open
from mmc2am.utils.mask_files import VOC_PNG_PALETTE as VOC_PALETTE

# Same order and colours as mmseg's PascalVOCDataset.METAINFO (checked by a
# test); kept here so generating data does not import torch through mmseg.
VOC_CLASSES: Tuple[str, ...] = (
    'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
    'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike',
    'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


_PALETTE_BYTES = VOC_PALETTE.reshape(-1).tolist()

# The generator's name in every XML annotation and in meta.json: the module's
# path before it moved to mmc2am.testing, kept so that the same arguments
# still give byte-identical data.
GENERATOR_NAME = 'mmc2am.datasets.voc_generator'

# Per class (in VOC order): object shape, object colour, context colour and
# context texture. Context colours are distinct points of the {50, 130, 210}^3
# grid (pairwise RGB distance >= 80) so that the context an image got can be
# read back from its background; each object colour is far from its own
# context colour so objects stay visible on their usual background. Where it
# was cheap, contexts follow VOC's real confounders (sky, road, water, grass).
# Texture periods are fractions of the short image side, so they scale.
_CLASS_TABLE: Tuple[Tuple[str, str, Tuple[int, int, int], Tuple[int, int, int],
                          dict], ...] = (
    ('aeroplane', 'plus', (242, 243, 244), (130, 210, 210),
     dict(pattern='noise', scale=0.25)),                    # sky with clouds
    ('bicycle', 'ring', (190, 0, 50), (130, 130, 130),
     dict(pattern='stripes', angle=90, period=0.2)),        # road markings
    ('bird', 'triangle', (243, 132, 0), (50, 130, 50),
     dict(pattern='dots', period=0.14, radius=0.3)),        # foliage
    ('boat', 'half_disc', (243, 195, 0), (50, 50, 130),
     dict(pattern='stripes', angle=0, period=0.1)),         # waves
    ('bottle', 'vbar', (0, 136, 86), (130, 50, 50),
     dict(pattern='stripes', angle=45, period=0.12)),       # wood grain
    ('bus', 'square', (161, 202, 241), (50, 50, 50),
     dict(pattern='checker', period=0.25)),                 # street
    ('car', 'ellipse', (0, 103, 165), (130, 130, 50),
     dict(pattern='noise', scale=0.12)),
    ('cat', 'hexagon', (34, 34, 34), (210, 130, 130),
     dict(pattern='dots', period=0.2, radius=0.22)),        # carpet
    ('chair', 'l_shape', (136, 45, 23), (210, 210, 130),
     dict(pattern='checker', period=0.16)),                 # floor tiles
    ('cow', 'crescent', (194, 178, 128), (130, 210, 50),
     dict(pattern='noise', scale=0.18)),                    # pasture
    ('diningtable', 't_shape', (101, 69, 34), (210, 210, 210),
     dict(pattern='stripes', angle=90, period=0.3)),        # wall panels
    ('dog', 'inv_triangle', (226, 88, 34), (50, 130, 130),
     dict(pattern='dots', period=0.25, radius=0.25)),
    ('horse', 'diamond', (96, 78, 151), (210, 130, 50),
     dict(pattern='stripes', angle=30, period=0.16)),       # ploughed field
    ('motorbike', 'x_cross', (220, 211, 0), (130, 50, 130),
     dict(pattern='checker', period=0.12)),
    ('person', 'v_ellipse', (249, 147, 121), (50, 130, 210),
     dict(pattern='noise', scale=0.35)),
    ('pottedplant', 'star', (141, 182, 0), (210, 130, 210),
     dict(pattern='dots', period=0.16, radius=0.2)),
    ('sheep', 'disc', (230, 143, 172), (50, 210, 130),
     dict(pattern='noise', scale=0.08)),
    ('sofa', 'u_shape', (43, 61, 38), (210, 50, 130),
     dict(pattern='stripes', angle=135, period=0.14)),
    ('train', 'hbar', (179, 68, 108), (130, 130, 210),
     dict(pattern='stripes', angle=0, period=0.22)),        # rails
    ('tvmonitor', 'frame', (132, 132, 130), (130, 50, 210),
     dict(pattern='checker', period=0.2)),
)

# Objects' half-extent as a fraction of the short image side: at 64 px an
# object spans about 18-38 px, large enough for an output-stride-16 network.
_RADIUS_RANGE = (0.14, 0.30)
# An object that ends up mostly hidden (by later objects or the border) would
# make its label unlearnable, so layouts are redrawn until every object keeps
# this fraction of its pixels and this fraction of the image.
_MIN_VISIBLE_FRACTION = 0.4
_MIN_VISIBLE_AREA = 0.015
_MAX_LAYOUT_TRIES = 20
_JPEG_QUALITY = 95


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of a unit shape in object coordinates.

    Args:
        shape (str): Shape name from ``_CLASS_TABLE``.
        u, v (np.ndarray): ``(H, W)`` coordinates relative to the object
            centre, divided by its half-extent (y grows downwards).

    Returns:
        np.ndarray: ``(H, W)`` bool.
    """
    au, av = np.abs(u), np.abs(v)
    box = np.maximum(au, av)
    rho2 = u * u + v * v
    if shape == 'disc':
        return rho2 <= 1.0
    if shape == 'square':
        return box <= 0.85
    if shape == 'triangle':
        return (v <= 0.85) & (au <= (v + 0.95) * 0.55)
    if shape == 'inv_triangle':
        return (v >= -0.85) & (au <= (0.95 - v) * 0.55)
    if shape == 'ellipse':
        return u * u + (v / 0.55) ** 2 <= 1.0
    if shape == 'v_ellipse':
        return (u / 0.55) ** 2 + v * v <= 1.0
    if shape == 'ring':
        return (rho2 <= 1.0) & (rho2 >= 0.5 ** 2)
    if shape == 'plus':
        return (box <= 1.0) & (np.minimum(au, av) <= 0.3)
    if shape == 'x_cross':
        return (box <= 0.95) & (np.minimum(np.abs(u - v), np.abs(u + v)) <= 0.42)
    if shape == 'star':
        # Five points, one pointing up.
        theta = np.arctan2(v, u) + np.pi / 2
        return np.sqrt(rho2) <= 0.6 + 0.4 * np.cos(5 * theta)
    if shape == 'diamond':
        return au + av <= 1.0
    if shape == 'half_disc':
        return (u * u + (v + 0.4) ** 2 <= 1.0) & (v >= -0.4)
    if shape == 'hbar':
        return (au <= 1.0) & (av <= 0.35)
    if shape == 'vbar':
        return (au <= 0.35) & (av <= 1.0)
    if shape == 'hexagon':
        return (av <= 0.87) & (au + 0.577 * av <= 1.0)
    if shape == 'frame':
        return (box <= 0.95) & (box >= 0.5)
    if shape == 't_shape':
        return (box <= 0.95) & ((v <= -0.4) | (au <= 0.28))
    if shape == 'l_shape':
        return (box <= 0.95) & ((u <= -0.4) | (v >= 0.4))
    if shape == 'u_shape':
        return (box <= 0.95) & ~((au <= 0.45) & (v <= 0.45))
    if shape == 'crescent':
        return (rho2 <= 1.0) & ((u - 0.5) ** 2 + v * v >= 0.75 ** 2)
    raise ValueError(f'unknown shape {shape!r}')


def _smooth_noise(rng: np.random.Generator, h: int, w: int,
                  scale: float) -> np.ndarray:
    """Zero-mean, unit-std smooth random field (bilinear upsampled noise).

    Args:
        scale (float): Blob size as a fraction of the short side.

    Returns:
        np.ndarray: ``(h, w)`` float32.
    """
    cell = max(2.0, scale * min(h, w))
    gh, gw = int(np.ceil(h / cell)) + 2, int(np.ceil(w / cell)) + 2
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    # Separable bilinear interpolation, vectorised with numpy only.
    ys = np.arange(h, dtype=np.float32) / cell
    xs = np.arange(w, dtype=np.float32) / cell
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    field = top * (1 - fy) + bottom * fy
    field -= field.mean()
    return field / (field.std() + 1e-6)


def _context_texture(rng: np.random.Generator, spec: dict, yy: np.ndarray,
                     xx: np.ndarray) -> np.ndarray:
    """Texture of a context, roughly zero-mean so the mean colour is kept.

    Args:
        spec (dict): The context entry of ``_CLASS_TABLE``.
        yy, xx (np.ndarray): ``(H, W)`` pixel coordinates.

    Returns:
        np.ndarray: ``(H, W)`` float32 in about ``[-1, 1]``.
    """
    h, w = yy.shape
    side = min(h, w)
    pattern = spec['pattern']
    # A random phase per image, so that the texture is a class property and
    # not a fixed pixel pattern that could be memorised.
    oy, ox = rng.uniform(0, side, size=2)
    if pattern == 'stripes':
        period = max(3.0, spec['period'] * side)
        a = np.deg2rad(spec['angle'])
        t = (xx + ox) * np.sin(a) + (yy + oy) * np.cos(a)
        return np.sin(2 * np.pi * t / period).astype(np.float32)
    if pattern == 'checker':
        period = max(2.0, spec['period'] * side)
        cells = (np.floor((yy + oy) / period) + np.floor((xx + ox) / period))
        return np.where(cells % 2 == 0, 1.0, -1.0).astype(np.float32)
    if pattern == 'dots':
        period = max(4.0, spec['period'] * side)
        dy = (yy + oy) % period - period / 2
        dx = (xx + ox) % period - period / 2
        dots = (dy * dy + dx * dx <= (spec['radius'] * period) ** 2)
        dots = dots.astype(np.float32)
        return 1.6 * (dots - dots.mean())
    if pattern == 'noise':
        return _smooth_noise(rng, h, w, spec['scale'])
    raise ValueError(f'unknown context pattern {pattern!r}')


def _render_image(rng: np.random.Generator, drawn_ids: np.ndarray,
                  context_prob: float, max_objects: int, yy: np.ndarray,
                  xx: np.ndarray) -> Tuple[np.ndarray, np.ndarray, List[int], int,
                                           List[Optional[dict]]]:
    """Draw one image and its mask.

    Args:
        rng (np.random.Generator): This image's own generator.
        drawn_ids (np.ndarray): VOC ids (1..20) objects are drawn from.
        context_prob (float): Probability that the background is the context
            of the first object's class.
        max_objects (int): Upper bound on the number of objects.
        yy, xx (np.ndarray): ``(H, W)`` float32 pixel coordinates.

    Returns:
        tuple: ``(image, mask, objects, context, boxes)``: ``(H, W, 3)`` uint8
        RGB, ``(H, W)`` uint8 VOC ids, the VOC ids of the objects in drawing
        order (first = primary), the VOC id whose context the background
        shows, and per object (same order) None if no pixel of it is visible,
        else a dict ``bbox`` (``(xmin, ymin, xmax, ymax)``, 0-based inclusive
        pixel indices of its visible pixels), ``truncated`` (its shape
        reaches the image border) and ``occluded`` (a later object hides
        part of it).
    """
    h, w = yy.shape
    side = min(h, w)
    # Fewer objects are more likely, as in VOC (most images hold one class).
    counts = np.arange(1, max_objects + 1)
    weights = 1.0 / counts
    num = int(rng.choice(counts, p=weights / weights.sum()))

    min_area = _MIN_VISIBLE_AREA * h * w
    for attempt in range(_MAX_LAYOUT_TRIES):
        if attempt == _MAX_LAYOUT_TRIES - 1:
            num = 1  # one object with its centre inside is always visible
        objects = [int(c) for c in rng.choice(drawn_ids, size=num)]
        masks = []
        mask = np.zeros((h, w), dtype=np.uint8)
        owner = np.full((h, w), -1, dtype=np.int64)
        for k, cls in enumerate(objects):
            shape = _CLASS_TABLE[cls - 1][1]
            r = rng.uniform(*_RADIUS_RANGE) * side
            # The centre keeps most of the bounding box inside the image.
            cy = rng.uniform(0.6 * r, h - 0.6 * r)
            cx = rng.uniform(0.6 * r, w - 0.6 * r)
            m = _shape_mask(shape, (xx - cx) / r, (yy - cy) / r)
            masks.append(m)
            owner[m] = k  # later objects are drawn on top
            mask[m] = cls
        visible = np.bincount(owner[owner >= 0], minlength=num)
        drawn = np.array([m.sum() for m in masks])
        if np.all((visible >= _MIN_VISIBLE_FRACTION * drawn)
                  & (visible >= min_area)):
            break

    primary = objects[0]
    if rng.random() < context_prob:
        context = primary
    else:
        # Any of the other 19 VOC contexts, even for classes not drawn, so that
        # the alternative is defined for every class subset.
        others = [c for c in range(1, len(VOC_CLASSES)) if c != primary]
        context = int(rng.choice(others))

    ctx_color = np.asarray(_CLASS_TABLE[context - 1][3], dtype=np.float32)
    # Small per-image colour jitter: contexts vary like real scenes do, while
    # staying far closer to their own colour than to any other context's.
    ctx_color = ctx_color + rng.normal(0, 5, size=3).astype(np.float32)
    texture = _context_texture(rng, _CLASS_TABLE[context - 1][4], yy, xx)
    image = ctx_color[None, None, :] + 28.0 * texture[:, :, None]

    for k, cls in enumerate(objects):
        m = owner == k
        if not m.any():
            continue
        color = np.asarray(_CLASS_TABLE[cls - 1][2], dtype=np.float32)
        color = color + rng.normal(0, 8, size=3).astype(np.float32)
        # Linear shading across the object in a random direction: objects are
        # not flat colour, so the network cannot key on a single RGB value.
        a = rng.uniform(0, 2 * np.pi)
        shade = (np.cos(a) * xx + np.sin(a) * yy) / side * 30.0
        shade = shade - shade[m].mean()
        image[m] = color[None, :] + shade[m][:, None]

    image += rng.normal(0, 6, size=image.shape).astype(np.float32)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    boxes: List[Optional[dict]] = []
    for k, m in enumerate(masks):
        vis = owner == k
        rows, cols = np.nonzero(vis.any(axis=1))[0], np.nonzero(vis.any(axis=0))[0]
        if not rows.size:
            boxes.append(None)
            continue
        # VOC boxes enclose the visible extent of an object.
        boxes.append(dict(
            bbox=(int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])),
            truncated=bool(m[0].any() or m[-1].any() or m[:, 0].any()
                           or m[:, -1].any()),
            occluded=bool(vis.sum() < m.sum())))
    return image, mask, objects, context, boxes


def _check_args(out_dir: str, num_train: int, num_val: int, num_aug: int,
                img_size: Union[int, Tuple[int, int],
                                Sequence[Tuple[int, int]]], seed: int,
                context_prob: float, max_objects: int,
                classes: Optional[Sequence[str]]
                ) -> Tuple[List[Tuple[int, int]], List[int]]:
    """Validate the arguments; return the ``(height, width)`` sizes (one,
    or the list images cycle through) and the drawn VOC ids."""
    def is_int(x) -> bool:
        return isinstance(x, (int, np.integer)) and not isinstance(x, bool)

    for name, value, low in (('num_train', num_train, 1), ('num_val', num_val, 1),
                             ('num_aug', num_aug, 0),
                             ('max_objects', max_objects, 1), ('seed', seed, 0)):
        if not is_int(value) or value < low:
            raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')
    def is_pair(x) -> bool:
        return (isinstance(x, (tuple, list)) and len(x) == 2
                and all(is_int(s) for s in x))

    if is_int(img_size):
        sizes = [(int(img_size), int(img_size))]
    elif is_pair(img_size):
        sizes = [(int(img_size[0]), int(img_size[1]))]
    elif (isinstance(img_size, (tuple, list)) and img_size
          and all(is_pair(s) for s in img_size)):
        sizes = [(int(s[0]), int(s[1])) for s in img_size]
    else:
        raise ValueError('img_size must be an int, a (height, width) pair of '
                         'ints or a list of such pairs, got '
                         f'{img_size!r}')
    if min(min(s) for s in sizes) < 32:
        raise ValueError(f'img_size must be at least 32 pixels, got {img_size!r}')
    if (isinstance(context_prob, bool) or not isinstance(
            context_prob, (int, float, np.floating, np.integer))
            or not 0.0 <= float(context_prob) <= 1.0):
        raise ValueError(f'context_prob must be in [0, 1], got {context_prob!r}')
    if classes is None:
        drawn = list(range(1, len(VOC_CLASSES)))
    else:
        if isinstance(classes, str):
            classes = [classes]
        names = list(classes)
        if not names:
            raise ValueError('classes must name at least one VOC class')
        unknown = [c for c in names if c not in VOC_CLASSES[1:]]
        if unknown:
            raise ValueError(f'unknown class name(s) in classes: {unknown}; '
                             f'VOC classes are {list(VOC_CLASSES[1:])}')
        drawn = sorted({VOC_CLASSES.index(c) for c in names})
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir):
        raise ValueError(f'out_dir must be a non-empty path, got {out_dir!r}')
    return sizes, drawn


def _prepare_out_dir(out_dir: str) -> Dict[str, str]:
    """Create the folders; fail early with the path if it is not writable."""
    paths = dict(
        root=out_dir,
        img_dir=os.path.join(out_dir, 'JPEGImages'),
        ann_dir=os.path.join(out_dir, 'SegmentationClass'),
        aug_ann_dir=os.path.join(out_dir, 'SegmentationClassAug'),
        xml_dir=os.path.join(out_dir, 'Annotations'),
        split_dir=os.path.join(out_dir, 'ImageSets', 'Segmentation'),
        meta_file=os.path.join(out_dir, 'meta.json'))
    try:
        for key in ('img_dir', 'ann_dir', 'aug_ann_dir', 'xml_dir',
                    'split_dir'):
            os.makedirs(paths[key], exist_ok=True)
        # makedirs succeeds on an existing read-only folder, so probe a write.
        fd, probe = tempfile.mkstemp(dir=paths['img_dir'], prefix='.probe.')
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise OSError(e.errno, f'cannot write the dataset to out_dir={out_dir!r}: '
                      f'{e.strerror or e}', e.filename) from e
    return paths


def _encode_png(mask: np.ndarray) -> bytes:
    """A ``(H, W)`` uint8 mask as palette-PNG bytes with the VOC palette."""
    img = Image.fromarray(mask)
    img.putpalette(_PALETTE_BYTES)  # turns the 'L' image into mode 'P'
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    return buf.getvalue()


def _encode_xml(img_id: str, size: Tuple[int, int], objects: List[int],
                boxes: List[Optional[dict]]) -> bytes:
    """A VOC2012 ``Annotations/<id>.xml`` for one generated image.

    Args:
        img_id (str): Image id.
        size (tuple[int, int]): ``(height, width)``.
        objects (list[int]): VOC ids (1..20) in drawing order.
        boxes (list[dict | None]): From :func:`_render_image`, same order;
            objects without a visible pixel get no ``<object>``.

    Returns:
        bytes: UTF-8 XML in VOC's element order; boxes in VOC's 1-based
        inclusive pixel coordinates.
    """
    def sub(parent: ET.Element, tag: str, text=None) -> ET.Element:
        el = ET.SubElement(parent, tag)
        if text is not None:
            el.text = str(text)
        return el

    root = ET.Element('annotation')
    sub(root, 'folder', 'VOC2012')
    sub(root, 'filename', img_id + '.jpg')
    source = sub(root, 'source')
    sub(source, 'database', 'mmc2am generated VOC look-alike')
    sub(source, 'annotation', GENERATOR_NAME)
    size_el = sub(root, 'size')
    sub(size_el, 'width', size[1])
    sub(size_el, 'height', size[0])
    sub(size_el, 'depth', 3)
    sub(root, 'segmented', 1)
    for cls, box in zip(objects, boxes):
        if box is None:
            continue
        obj = sub(root, 'object')
        sub(obj, 'name', VOC_CLASSES[cls])
        sub(obj, 'pose', 'Unspecified')
        sub(obj, 'truncated', int(box['truncated']))
        sub(obj, 'occluded', int(box['occluded']))
        sub(obj, 'difficult', 0)
        bndbox = sub(obj, 'bndbox')
        for tag, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), box['bbox']):
            sub(bndbox, tag, value + 1)
    ET.indent(root, space='\t')
    return (ET.tostring(root, encoding='unicode') + '\n').encode('utf-8')


def _write_bytes(path: str, data: bytes) -> None:
    with atomic_open(path, 'wb') as f:
        f.write(data)


def generate_voc_dataset(out_dir: str, num_train: int = 40, num_val: int = 20,
                         num_aug: int = 40,
                         img_size: Union[int, Tuple[int, int],
                                         Sequence[Tuple[int, int]]] = 64,
                         seed: int = 0, context_prob: float = 0.8,
                         max_objects: int = 3,
                         classes: Optional[Sequence[str]] = None) -> dict:
    """Generate a VOC2012-layout dataset whose classes are confounded by context.

    Each image holds 1..``max_objects`` objects (fewer more likely) of a
    class-specific shape and colour, with random size and position; later
    objects are drawn on top, and layouts are redrawn until each object keeps
    a visible share of its pixels. The background shows the context of the
    first object's class with probability ``context_prob``, else a context
    drawn uniformly from the other 19 VOC classes.

    Image ``i`` depends only on ``(seed, i)`` and the drawing arguments, so
    changing ``num_aug`` does not change the train images; the same
    arguments always give byte-identical files. Existing files are
    overwritten; ``meta.json`` is written last, so its presence means a
    complete dataset.

    Args:
        out_dir (str): Root to write, the ``VOC2012`` folder itself.
        num_train (int): Images in ``train.txt`` (>= 1).
        num_val (int): Images in ``val.txt`` (>= 1).
        num_aug (int): Extra images with only ``SegmentationClassAug`` masks,
            listed in ``aug.txt`` and, after train, in ``trainaug.txt`` (>= 0).
        img_size (int | tuple[int, int] | list[tuple[int, int]]): Side,
            or ``(height, width)``, or a list of ``(height, width)`` that
            the images take in turn (image ``i`` gets ``img_size[i % n]``:
            VOC's landscape 375 x 500 and portrait 500 x 375 with
            ``[(375, 500), (500, 375)]``); every side at least 32.
        seed (int): Non-negative seed.
        context_prob (float): Probability in ``[0, 1]`` that an image's
            background is the context of its first object's class.
        max_objects (int): Most objects per image (>= 1).
        classes (Sequence[str], optional): VOC class names to draw objects
            from; masks keep VOC ids. ``None`` draws all 20.

    Returns:
        dict: ``root``, ``img_dir``, ``ann_dir``, ``aug_ann_dir``,
        ``xml_dir``, ``split_dir``, ``meta_file`` (paths); ``splits``
        (``train``, ``val``, ``aug``, ``trainaug`` -> list of ids);
        ``labels`` (id -> sorted VOC ids 1..20 present in the mask, the
        classes of its XML too); ``objects`` (id -> VOC ids in drawing order,
        first = primary); ``context`` (id -> VOC id whose context is
        the background); ``classes`` (the 21 VOC names, background first);
        ``img_size`` (``(height, width)``; with several sizes the tuple of
        them).

    Raises:
        ValueError: An argument is out of range, names it.
        OSError: ``out_dir`` cannot be created or written, names the path.
    """
    sizes, drawn = _check_args(out_dir, num_train, num_val, num_aug, img_size,
                                seed, context_prob, max_objects, classes)
    out_dir = os.fspath(out_dir)
    paths = _prepare_out_dir(out_dir)

    total = num_train + num_val + num_aug
    ids = [f'gen_{i:06d}' for i in range(total)]
    splits = dict(train=ids[:num_train],
                  val=ids[num_train:num_train + num_val],
                  aug=ids[num_train + num_val:])
    splits['trainaug'] = splits['train'] + splits['aug']
    with_mask = set(splits['train']) | set(splits['val'])

    grids = {hw: np.mgrid[0:hw[0], 0:hw[1]].astype(np.float32)
             for hw in sizes}
    drawn_ids = np.asarray(drawn)
    labels, objects_of, context_of = {}, {}, {}
    for i, img_id in enumerate(ids):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), i]))
        h, w = sizes[i % len(sizes)]
        yy, xx = grids[h, w]
        image, mask, objects, context, boxes = _render_image(
            rng, drawn_ids, float(context_prob), int(max_objects), yy, xx)
        labels[img_id] = [int(c) for c in np.unique(mask) if c != 0]
        objects_of[img_id] = objects
        context_of[img_id] = context

        with atomic_open(os.path.join(paths['img_dir'], img_id + '.jpg'),
                         'wb') as f:
            # 4:4:4 chroma keeps the colours of small objects intact; PIL
            # writes no timestamp, so the bytes are reproducible.
            Image.fromarray(image).save(
                f, format='JPEG', quality=_JPEG_QUALITY, subsampling=0)
        png = _encode_png(mask)
        _write_bytes(os.path.join(paths['aug_ann_dir'], img_id + '.png'), png)
        if img_id in with_mask:
            _write_bytes(os.path.join(paths['ann_dir'], img_id + '.png'), png)
        _write_bytes(os.path.join(paths['xml_dir'], img_id + '.xml'),
                     _encode_xml(img_id, (h, w), objects, boxes))

    for name in ('train', 'val', 'aug', 'trainaug'):
        text = ''.join(i + '\n' for i in splits[name])
        _write_bytes(os.path.join(paths['split_dir'], name + '.txt'),
                     text.encode())

    meta = dict(
        generator=GENERATOR_NAME,
        # 2: Annotations/<id>.xml written for every image
        format_version=2,
        seed=int(seed),
        # [height, width], or the list of them the images take in turn
        img_size=list(sizes[0]) if len(sizes) == 1 else [
            list(hw) for hw in sizes],
        num_train=int(num_train),
        num_val=int(num_val),
        num_aug=int(num_aug),
        context_prob=float(context_prob),
        max_objects=int(max_objects),
        classes=list(VOC_CLASSES),
        drawn_classes=[VOC_CLASSES[c] for c in drawn],
        class_info={
            name: dict(id=cid, shape=shape, color=list(obj),
                       context=dict(color=list(ctx), **tex))
            for cid, (name, shape, obj, ctx, tex) in enumerate(_CLASS_TABLE, 1)
        },
        splits=splits,
        images={
            i: dict(labels=labels[i], objects=objects_of[i],
                    context=context_of[i])
            for i in ids
        })
    _write_bytes(paths['meta_file'],
                 (json.dumps(meta, indent=1, sort_keys=True) + '\n').encode())

    return dict(paths, splits=splits, labels=labels, objects=objects_of,
                context=context_of, classes=VOC_CLASSES,
                img_size=sizes[0] if len(sizes) == 1 else tuple(sizes))
