from .bg_fg_balanced_ce_loss import BgFgBalancedCELoss

__all__ = ['BgFgBalancedCELoss']
# W-OoD (issue 26)
from .wood_distance_loss import WOoDDistanceLoss, harden_ood  # noqa: E402

__all__ += ['WOoDDistanceLoss', 'harden_ood']
