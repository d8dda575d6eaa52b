"""Evaluation: lens-finding metrics, calibration of predicted covariances, plots."""
