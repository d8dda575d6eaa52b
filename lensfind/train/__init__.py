"""Training: single fits and k-fold cross-validation with resume."""
