"""Evaluation: lens-finding and K-class metrics, calibration of predicted covariances, plots."""
