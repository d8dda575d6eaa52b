"""Evaluation: lens-finding and K-class metrics, calibration of predicted covariances, plots, and
``lensfind evaluate`` (a scores file measured against a truth file, :mod:`.report`)."""
