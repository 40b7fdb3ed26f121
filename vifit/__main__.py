"""Allow ``python -m vifit``."""

from vifit import interrupt

# Before the command line's imports (click, then whatever a command loads): a signal during
# start-up must end with 130 / 143, not with Python's default actions.
interrupt.install()

from vifit.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
