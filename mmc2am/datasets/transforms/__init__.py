from .irn_random_crop import BGR_MEAN, IRNRandomCrop

__all__ = ['BGR_MEAN', 'IRNRandomCrop']
