"""Data sets: HDF5 stores, FITS cutouts, folds and augmentation."""
