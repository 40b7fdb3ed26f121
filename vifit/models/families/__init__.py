"""Observation families for product mixtures, one module per family (see ``base`` for the interface)."""

from vifit.models.families.bernoulli import Bernoulli
from vifit.models.families.categorical import Categorical
from vifit.models.families.gaussian import Gaussian
from vifit.models.families.poisson import Poisson

FAMILIES = {cls.name: cls for cls in (Bernoulli, Poisson, Categorical, Gaussian)}


def from_description(desc: dict):
    """(family, lam (p_g, k)) from a family's ``describe`` dict."""
    return FAMILIES[desc["family"]].from_description(desc)
