"""Distances in a flat LambdaCDM universe, to turn masses [M_sun] into Einstein radii [arcsec].

Only the substructure priors (:class:`lensfind.sim.config.SubstructurePriors`) are given in
solar masses; everything else in the simulator is in angles. The cosmology is fixed: flat,
``H0 = 70 km/s/Mpc``, ``Omega_m = 0.3``, no radiation -- that of the DeepLense simulations
(``DeepLens.__init__`` in mwt5345/DeepLenseSim, ``deeplense/lens.py``; astropy's
``FlatLambdaCDM(H0=70, Om0=0.3)``).

The Einstein radius of a point mass ``M`` at redshift ``z_l`` for a source at ``z_s`` is

    theta_E = sqrt(4 G M / c^2 * D_ls / (D_l D_s))            [rad]

with angular-diameter distances ``D``. For a circularly symmetric lens, the mass inside its
Einstein radius is the point mass with the same Einstein radius, so masses add as ``theta_E^2``
(lenstronomy's ``POINT_MASS`` deflection is ``theta_E^2 r / |r|^2``). For z_l = 0.5, z_s = 1.0:
``theta_E = 0.1665" * sqrt(M / 1e10 M_sun)``.

Note: DeepLenseSim's ``mass_to_radius`` uses *luminosity* distances (``D_ls = D_s - D_l``), which
gives Einstein radii 0.77 times these at z_l = 0.5, z_s = 1.0 (0.128" for 1e10 M_sun): the same
DeepLense mass is a weaker lens there than here.
"""
from __future__ import annotations

import numpy as np

#: Hubble constant [km/s/Mpc] and matter density of the (flat) cosmology
H0 = 70.0
OMEGA_M = 0.3

_C = 299792458.0                   # m/s
_G = 6.67430e-11                   # m^3 kg^-1 s^-2 (CODATA 2018)
_M_SUN = 1.988409870698051e30      # kg (IAU 2015 nominal, as astropy)
_MPC = 3.0856775814913673e22       # m
_RAD_TO_ARCSEC = 180.0 / np.pi * 3600.0
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)


def comoving_distance(z) -> np.ndarray:
    """Line-of-sight comoving distance [Mpc] to redshift ``z`` (array-like, ``z >= 0``):
    ``c / H0 * integral_0^z dz' / E(z')``, ``E = sqrt(Omega_m (1+z)^3 + 1 - Omega_m)``
    (64-point Gauss-Legendre quadrature: relative error < 1e-12 for z < 20)."""
    z = np.asarray(z, dtype=np.float64)
    zz = 0.5 * z[..., None] * (_NODES + 1.0)
    inv_e = 1.0 / np.sqrt(OMEGA_M * (1.0 + zz) ** 3 + 1.0 - OMEGA_M)
    return (_C / 1000.0 / H0) * 0.5 * z * (inv_e * _WEIGHTS).sum(axis=-1)


def angular_diameter_distance(z1, z2=None) -> np.ndarray:
    """Angular-diameter distance [Mpc] from ``z1`` to ``z2`` (from 0 to ``z1`` if ``z2`` is
    None); flat: ``(D_C(z2) - D_C(z1)) / (1 + z2)``."""
    if z2 is None:
        z1, z2 = 0.0, z1
    z2 = np.asarray(z2, dtype=np.float64)
    return (comoving_distance(z2) - comoving_distance(z1)) / (1.0 + z2)


def point_mass_einstein_radius(mass, z_lens: float, z_source: float) -> np.ndarray:
    """Einstein radius [arcsec] of a point mass ``mass`` [M_sun] (array-like) at ``z_lens`` for
    a source at ``z_source > z_lens`` (see the module docstring)."""
    if not 0.0 < z_lens < z_source:
        raise ValueError(f"z_lens = {z_lens!r}, z_source = {z_source!r} is invalid: expected "
                         "0 < z_lens < z_source")
    d_l = angular_diameter_distance(z_lens)
    d_s = angular_diameter_distance(z_source)
    d_ls = angular_diameter_distance(z_lens, z_source)
    mass = np.asarray(mass, dtype=np.float64)
    theta2 = 4.0 * _G * mass * _M_SUN / _C ** 2 * d_ls / (d_l * d_s * _MPC)
    return np.sqrt(theta2) * _RAD_TO_ARCSEC
