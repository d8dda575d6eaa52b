"""lensfind: find strong gravitational lenses in telescope cutouts and measure them."""
__version__ = "0.1.0"
