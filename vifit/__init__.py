"""vifit: fit variational models to tabular data from the command line."""

__version__ = "0.1.0"
