from .irnet import IRNet

__all__ = ['IRNet']
