"""Param-wise optimizer options with one param group per distinct option set.

mmengine's :class:`~mmengine.optim.DefaultOptimWrapperConstructor` gives
every parameter its own param group as soon as ``paramwise_cfg`` is set (IRN's
"x10 on the head" is a ``custom_keys`` entry): 161 groups for a ResNet-50 CAM
classifier. PyTorch optimizers run their multi-tensor (``foreach``) kernels
per group, so each SGD step then launches a few kernels *per parameter* and
loops over 161 groups in Python. With AMP the GradScaler synchronises before
the step, so on a GPU that loop is not hidden behind the backward pass and
shows up in the step time.

This constructor computes exactly the same per-parameter options (it runs the
default constructor's ``add_params``) and then merges the parameters whose
options are identical into one group, in order of first appearance. The
optimizer's arithmetic is unchanged; only the number of groups (and of kernel
launches) drops, to 2 for the CAM classifier configs (default options and the
head's ``lr_mult``).
"""
from typing import List, Optional, Union

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor

from mmc2am.registry import OPTIM_WRAPPER_CONSTRUCTORS


def merge_param_groups(groups: List[dict]) -> List[dict]:
    """Merge param groups whose options (all keys but ``params``) are equal.

    Args:
        groups (list[dict]): Param groups, each with a ``params`` list.

    Returns:
        list[dict]: One group per distinct option set, in order of first
        appearance; each ``params`` list keeps the parameters' order.
    """
    merged: List[dict] = []
    for group in groups:
        options = {k: v for k, v in group.items() if k != 'params'}
        # compared with ==, not hashed: option values may be lists
        for target in merged:
            if {k: v for k, v in target.items() if k != 'params'} == options:
                break
        else:
            target = dict(options, params=[])
            merged.append(target)
        target['params'].extend(group['params'])
    return merged


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class CompactOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """:class:`DefaultOptimWrapperConstructor` with merged param groups.

    Takes the same arguments and ``paramwise_cfg`` keys as the default
    constructor; select it in a config with
    ``optim_wrapper = dict(constructor='CompactOptimWrapperConstructor', ...)``.

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config (``type``,
            ``optimizer``, ...).
        paramwise_cfg (dict, optional): Param-wise options (``custom_keys``,
            ``bias_lr_mult``, ``norm_decay_mult``, ...). Defaults to None.

    Note:
        A checkpoint's optimizer state saved with the default constructor
        (one group per parameter) does not load into an optimizer built by
        this one (2 groups): resume a run with the constructor it started
        with.
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[Union[int, float]] = None) -> None:
        """Add the module's parameters to ``params``, merged by options.

        The default ``add_params`` recurses with a non-empty ``prefix``; only
        the outermost call (``prefix == ''``) collects and merges.
        """
        if prefix:
            super().add_params(params, module, prefix, is_dcn_module)
            return
        groups: List[dict] = []
        super().add_params(groups, module, prefix, is_dcn_module)
        params.extend(merge_param_groups(groups))
