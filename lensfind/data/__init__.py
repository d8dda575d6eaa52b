"""Data sets: HDF5 stores, FITS cutouts, folds, augmentation and pictures of sets."""
