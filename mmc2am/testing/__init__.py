"""Test and demo helpers that are not registered components.

:func:`generate_voc_dataset` writes the generated, context-confounded VOC
look-alike that the demo, the tests and the benchmarks run on
(``tools/generate_voc.py`` is its command line).
"""
from .run_tool import run_tool
from .voc_generator import VOC_CLASSES, VOC_PALETTE, generate_voc_dataset

__all__ = ['VOC_CLASSES', 'VOC_PALETTE', 'generate_voc_dataset', 'run_tool']
