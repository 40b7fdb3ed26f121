"""One module per command. Modules import only click and vifit.options at import time."""
