"""What the commands share beyond the fit flow (which is vifit.fitflow)."""

from __future__ import annotations

from vifit import errors
from vifit.fitflow import check_output_target, resolve_seed, run_fit  # noqa: F401 (the commands' names)


def require_csv_output(command: str, out: dict) -> str:
    """predict and sample write CSV tables: "csv", or "parquet" for an -o name ending in
    .parquet (with pyarrow, the extra vifit[arrow]); BadInput when a .json name for -o asks
    for JSON or an extension names no format (exit 2, before anything is read)."""
    from vifit.output import resolve_format

    output, fmt = out["output"], out["format"]
    if not fmt and output and output.lower().endswith(".parquet"):
        from vifit.data.arrow import pyarrow

        pyarrow(f"-o {output}", "writing Parquet files")
        return "parquet"
    resolved = resolve_format(output, fmt, offered=("csv",), default="csv")
    if resolved == "csv":
        return resolved
    asked = f"--format {fmt}: " if fmt else f"-o {output}: "
    fix = f"drop --format {fmt}" if fmt else "give -o a .csv name, or write to stdout"
    raise errors.BadInput(f"{asked}{command} writes CSV only; {fix}")
