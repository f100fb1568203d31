from .bg_fg_balanced_ce_loss import BgFgBalancedCELoss

__all__ = ['BgFgBalancedCELoss']
