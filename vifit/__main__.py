"""Allow ``python -m vifit``."""

from vifit.cli import main

if __name__ == "__main__":
    main()
