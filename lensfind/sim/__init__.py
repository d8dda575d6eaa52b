"""Lens simulator: SIE + external shear lenses, Sersic and real-galaxy sources, observation effects.

Public API:

* :class:`lensfind.sim.config.SimConfig` -- the ``[simulation]`` table (priors, PSF, noise,
  artifacts, non-lens mix).
* :func:`lensfind.sim.simulate.simulate` / :func:`~lensfind.sim.simulate.simulate_chunks` ->
  :class:`~lensfind.sim.simulate.SimBatch` (images in electrons, labels, kinds, system ids,
  parameters); bit-identical for a given seed however the set is chunked.
* :data:`lensfind.sim.params.PARAMS` -- name -> (unit, description) of every recorded parameter.
* ``[simulation.substructure]`` (:class:`~lensfind.sim.config.SubstructurePriors`, off by
  default): dark-matter substructure classes of the lenses (no_sub, cdm subhalos, axion
  vortices); :func:`~lensfind.sim.simulate.substructure_variants` renders one lens per class.
* :mod:`lensfind.sim.func` (lensing, conventions), :mod:`~lensfind.sim.cosmology` (masses to
  Einstein radii), :mod:`~lensfind.sim.profiles` (light),
  :mod:`~lensfind.sim.observe` (PSF, noise, artifacts), :mod:`~lensfind.sim.sources` (real
  galaxies from images shipped in mgefit and scikit-image).
"""
