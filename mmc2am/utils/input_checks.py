"""Checks of what a user hands to ``tools/train.py`` / ``tools/test.py``.

Each turns a silent mistake or a library crash that names nothing into an
error that names the setting or the file (issue 28):

- :func:`check_cfg_options`: a misspelt top-level ``--cfg-options`` key
  (``load_frm=...``) would be merged as a new key and ignored;
- :func:`check_train_batches`: a train split smaller than one batch with
  ``drop_last`` gives 0 iterations per epoch, which mmengine reports as
  "`epoch_length` must be a positive integer, but got 0";
- :func:`check_test_checkpoint`: a test stage given a checkpoint that does
  not hold the model's weights (another stage's, or none) would run on
  random weights, mmengine only logging "do not match exactly";
- :func:`parse_xml_no_dtd`: XML annotations parsed with DTDs (and so entity
  expansion: billion laughs, external entities) refused.

They only read: nothing here changes what a run computes.
"""
import difflib
import inspect
import re
import xml.etree.ElementTree as ET
from typing import Iterable, List, Optional, Sequence

import torch
from torch import nn

__all__ = [
    'check_cfg_options', 'check_test_checkpoint', 'check_train_batches',
    'missing_prefixes', 'parse_xml_no_dtd'
]

# Top-level keys the tools and mmengine read that a config need not have.
_TOOL_KEYS = ('runner_type', 'launcher', 'tta_model', 'tta_pipeline',
              'resume', 'load_from', 'work_dir')


def check_cfg_options(cfg, options: Optional[dict], tool: str) -> None:
    """Refuse ``--cfg-options`` whose top-level key nothing reads.

    A key is known if the config has it, or it is an argument of mmengine's
    ``Runner`` (``randomness``, ``env_cfg``, ...) or one the tools read.

    Args:
        cfg (mmengine.Config): The config before the options are merged.
        options (dict, optional): The parsed ``--cfg-options``.
        tool (str): Name of the tool, for the message.

    Raises:
        KeyError: Names the key, the config and the close matches.
    """
    if not options:
        return
    from mmengine.runner import Runner
    known = set(cfg.keys()) | set(_TOOL_KEYS)
    known |= set(inspect.signature(Runner.__init__).parameters) - {'self'}
    for key in options:
        top = str(key).split('.', 1)[0]
        if top in known:
            continue
        close = difflib.get_close_matches(top, sorted(known), n=3, cutoff=0.6)
        hint = (f'did you mean {" or ".join(repr(c) for c in close)}?'
                if close else 'no key of the config is close')
        raise KeyError(
            f'{tool} --cfg-options {key}=...: unknown top-level key {top!r} '
            f'(not in {cfg.filename or "the config"} nor read by the '
            f'Runner); {hint}')


def check_train_batches(runner) -> None:
    """Refuse a training whose epoch has no iteration.

    Builds the runner's train loop (what ``runner.train()`` does first, so
    nothing else runs earlier) and checks that its dataloader yields at
    least one batch.

    Raises:
        ValueError: Names the split, its size, the batch size (total and
            per process x processes) and ``drop_last``.
    """
    loop = runner.train_loop
    loader = getattr(loop, 'dataloader', None)
    try:
        num_batches = len(loader)
    except TypeError:  # an infinite sampler (iteration-based loops)
        return
    if num_batches > 0:
        return
    from mmengine.dist import get_world_size
    batch_sampler = loader.batch_sampler
    per_process = getattr(batch_sampler, 'batch_size', loader.batch_size)
    world = getattr(batch_sampler, 'world_size', get_world_size())
    drop_last = getattr(batch_sampler, 'drop_last', loader.drop_last)
    dataset = loader.dataset
    split = getattr(dataset, 'ann_file', None) or type(dataset).__name__
    raise ValueError(
        f'train_dataloader: the train split {split} has {len(dataset)} '
        f'images ({len(loader.sampler)} in this process), fewer than one '
        f'batch of {per_process * world} (batch_size {per_process} per '
        f'process x {world} processes) with drop_last={drop_last}: an epoch '
        'would have 0 iterations. Lower train_dataloader.batch_size, add '
        'images, or set drop_last=False.')


def missing_prefixes(keys: Sequence[str], missing: Iterable[str]) -> List[str]:
    """The highest module paths all of whose keys are missing.

    Args:
        keys (Sequence[str]): Every ``state_dict`` key of the model.
        missing (Iterable[str]): The keys a checkpoint lacks.

    Returns:
        list[str]: Sorted prefixes, e.g. ``['edge_layers', 'head.conv']``
        (a key itself where its module is partly there).
    """
    missing = set(missing)
    out = set()
    for key in missing:
        parts = key.split('.')
        for i in range(1, len(parts) + 1):
            prefix = '.'.join(parts[:i])
            under = [k for k in keys
                     if k == prefix or k.startswith(prefix + '.')]
            if all(k in missing for k in under):
                out.add(prefix)
                break
    return sorted(out)


def check_test_checkpoint(model: nn.Module, load_from: Optional[str]) -> None:
    """Refuse a test of a model with weights its checkpoint does not hold.

    A model without weights (the CRF mask stages) needs no checkpoint.
    Otherwise ``load_from`` must be given and its ``state_dict`` must hold
    every key of the model's (``module.`` stripped, as mmengine loads it)
    with the model's shape; extra keys are fine. Called before
    ``runner.test()``, so no metric or mask is written from random weights.

    Args:
        model (nn.Module): The runner's model (a wrapper or a TTA model is
            looked through).
        load_from (str, optional): The checkpoint ``runner.test()`` loads.

    Raises:
        ValueError: Names the checkpoint (or its absence), the model and
            the prefixes of the missing (or differently shaped) keys.
    """
    from mmengine.model import BaseTTAModel, is_model_wrapper
    from mmengine.runner.checkpoint import _load_checkpoint
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    own = model.state_dict()
    keys = list(own.keys())
    if not keys:
        return
    name = type(model).__name__
    if not load_from:
        raise ValueError(
            f'{name} has weights ({", ".join(missing_prefixes(keys, keys))}) '
            'but no checkpoint was given: pass the checkpoint of its '
            'training (tools/test.py CONFIG CHECKPOINT, or load_from=...)')
    try:
        # keys and shapes only: memory-mapped, the tensors are not read
        # (mmengine reads the checkpoint once more to load it)
        ckpt = torch.load(load_from, map_location='cpu', mmap=True,
                          weights_only=False)
    except Exception:  # not a local zip-format file: mmengine's loaders
        ckpt = _load_checkpoint(load_from, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    have = {re.sub(r'^module\.', '', str(k)): v for k, v in state.items()}
    missing = [k for k in keys if k not in have]
    # present but of another shape: mmengine skips them too
    resized = [
        k for k in keys if k in have and hasattr(have[k], 'shape')
        and tuple(have[k].shape) != tuple(own[k].shape)
    ]
    if missing or resized:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing, under '
                         f'{", ".join(missing_prefixes(keys, missing))}')
        if resized:
            parts.append(f'{len(resized)} of another shape, under '
                         f'{", ".join(missing_prefixes(keys, resized))}')
        raise ValueError(
            f'checkpoint {load_from} does not hold the weights of {name}: '
            f'of its {len(keys)} keys, {"; ".join(parts)} (is it the '
            "checkpoint of another stage's model?); refusing to test "
            'random weights')


def parse_xml_no_dtd(path: str) -> ET.Element:
    """The root of an XML file, refused if it has a DTD or entities.

    expat (ElementTree's parser, here building the tree through a
    ``TreeBuilder``) with its DOCTYPE, entity declaration and external
    entity handlers raising (defusedxml's approach, without the dependency): no
    entity is ever expanded (billion laughs) or fetched (external
    entities). VOC annotations have no DTD.

    Args:
        path (str): The XML file.

    Returns:
        xml.etree.ElementTree.Element: The root element.

    Raises:
        ValueError: A DTD or entity declaration, naming the file.
        xml.etree.ElementTree.ParseError: Malformed XML.
    """

    def refuse(*_):
        raise ValueError(
            f'{path}: XML with a DTD (<!DOCTYPE>) or entity declarations is '
            'refused (entity expansion is off; VOC annotations have none)')

    from xml.parsers import expat
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    with open(path, 'rb') as f:
        data = f.read()
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        err = ET.ParseError(str(e))
        err.code, err.position = e.code, (e.lineno, e.offset)
        raise err from None
    return builder.close()
