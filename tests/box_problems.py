"""Test problems for the box-constrained optimisers (nstutils.lbfgs, benchmarks/projected_lbfgs.py), shared so
both are held to the same optimum."""

from __future__ import annotations

import numpy as np

CENTRE = np.linspace(-0.5, 1.5, 40).astype(np.float32)
CURVATURE = np.geomspace(1.0, 1e3, 40)


def quadratic(x):
    """An ill-conditioned quadratic whose optimum, ``clip(CENTRE, 0, 1)`` in the box, lies partly outside [0, 1]."""
    d = x.astype(np.float64).ravel() - CENTRE
    return float(np.sum(CURVATURE * d * d)), (2 * CURVATURE * d).astype(np.float32).reshape(x.shape)
