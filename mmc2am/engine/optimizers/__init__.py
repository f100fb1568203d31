from .compact_optim_wrapper_constructor import (
    CompactOptimWrapperConstructor,
    merge_param_groups,
)

__all__ = ['CompactOptimWrapperConstructor', 'merge_param_groups']
