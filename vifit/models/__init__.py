"""Pure mathematics on numpy arrays: no printing, no files, no loops over iterations."""
