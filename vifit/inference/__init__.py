"""Inference loops: iteration, convergence, restarts, progress callbacks, interruption."""
