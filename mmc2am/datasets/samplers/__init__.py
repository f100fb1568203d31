from .total_batch_sampler import TotalBatchSampler

__all__ = ['TotalBatchSampler']
