from .global_cam_hook import GlobalCAMHook

__all__ = ['GlobalCAMHook']
