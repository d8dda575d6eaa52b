"""Lens simulator: SIE + external shear lenses, Sersic and real-galaxy sources, observation effects."""
