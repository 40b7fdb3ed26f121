"""No module of vifit imports a layer above its own.

Every ``import``/``from ... import`` in every module of vifit/ (function-level ones included,
read with ast, nothing imported) is checked against the one declaration of the layers below.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vifit"

# The layers, top first. A module may import its own layer and any layer below it.
# The road is cli -> commands -> API -> loops -> models. plot sits between the commands and the
# API (a figure is drawn from a model file, with the API's per-row answers); distributed is in
# the API's layer, as the rows and loops GMM(backend="dask") chooses. The services sit above
# inference: commands and the API read, write, report and checkpoint through them; the loops, models and numpy kit get what they need passed in
# (inference.policy.LoopPolicy, arrays), so none of them touches a file, a signal or a terminal.
# BASE is below everything, so every layer may use it: errors are the contract's vocabulary (a
# loop raises DataChanged or BadInput, e.g. sgd's non-finite loss naming the epoch) and result is
# a plain record; neither imports anything of vifit. "vifit" is the package root (__version__).
LAYERS = [
    ("cli", {"cli", "__main__"}),
    ("commands", {"commands"}),
    ("plot", {"plot"}),
    ("api", {"api", "distributed"}),
    ("services", {"fitflow", "fitplan", "memory", "data", "documents", "output", "writing", "progress",
                  "preprocess", "checkpoint", "interrupt", "terminal", "options", "resources", "threads", "blas",
                  "runinfo", "filestamp", "parameters", "units", "parallel", "splits", "console"}),
    ("inference", {"inference"}),
    ("models", {"models"}),
    ("nn", {"nn"}),
    ("base", {"errors", "result", "vifit"}),
]

# (importing module, imported module) pairs that break the order today, each with why it is
# not fixed yet. The test fails when one disappears too, so this list can only shrink.
KNOWN: dict[tuple[str, str], str] = {}

# Upward imports that are the design, not a debt: the package root is both the base (its
# __version__) and the public face, whose module __getattr__ re-exports vifit.GMM, PCA,
# Autoencoder, VAE and load from the API lazily, on first use, so `import vifit` stays cheap.
BY_DESIGN = {("vifit", "vifit.api")}


def _rank() -> dict[str, int]:
    rank = {}
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            assert name not in rank, f"{name} is declared in two layers"
            rank[name] = len(LAYERS) - index
    return rank


RANK = _rank()


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """The vifit modules (or module.attribute names) that ``path`` imports anywhere in its code."""
    name = _module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importing module's package, up level - 1
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {target for target in found if target == "vifit" or target.startswith("vifit.")}


def _area(module: str) -> str:
    """The layer key of a module: its first component below vifit (vifit itself for the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "vifit"


def _violations(package: Path = PACKAGE) -> set[tuple[str, str]]:
    """(importing module, imported vifit.<area>) for every import of a higher layer under ``package``."""
    root, bad = package.parent, set()
    for path in sorted(package.rglob("*.py")):
        importer = _module_name(path, root)
        for target in _imports(path, root):
            area = _area(target)
            if area not in RANK:  # a name of the root package (vifit.__version__), not a module
                assert not (package / area).exists() and not (package / f"{area}.py").exists(), \
                    f"{importer} imports {target}: {area} is in no layer; declare it in LAYERS"
                continue
            if RANK[area] > RANK[_area(importer)]:
                bad.add((importer, f"vifit.{area}"))
    return bad


def test_every_module_is_in_a_layer():
    areas = {_area(_module_name(path, ROOT)) for path in PACKAGE.rglob("*.py")}
    assert areas <= set(RANK), f"modules in no layer: {sorted(areas - set(RANK))}; declare them in LAYERS"


def test_no_module_imports_a_layer_above_its_own():
    found = _violations() - BY_DESIGN
    new = sorted(found - set(KNOWN))
    assert not new, "imports from a higher layer:\n" + "\n".join(f"  {a} imports {b}" for a, b in new)


def test_known_exceptions_still_exist():
    gone = sorted(set(KNOWN) - _violations())
    assert not gone, "fixed, so remove from KNOWN:\n" + "\n".join(f"  {a} -> {b}" for a, b in gone)


def test_the_walk_finds_function_level_and_relative_imports_of_a_higher_layer(tmp_path):
    package = tmp_path / "vifit"
    for folder in ("commands", "inference", "api", "models"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("__version__ = '0'\n")
    (package / "errors.py").write_text("")
    (package / "inference" / "loop.py").write_text(
        "from vifit import errors, __version__\nfrom vifit.models import gmm\nfrom . import other\n\n"
        "def f():\n    from vifit.commands import common\n    from ..api import gmm\n")
    (package / "models" / "gmm.py").write_text("import vifit.inference.loop\n")
    assert _violations(package) == {("vifit.inference.loop", "vifit.commands"),
                                    ("vifit.inference.loop", "vifit.api"),
                                    ("vifit.models.gmm", "vifit.inference")}


def test_loops_models_and_nn_read_no_environment():
    """Their policy (threads, strict-ELBO mode, ...) is passed in: no os.environ / os.getenv below
    the services (vifit.threads and the command line read the environment)."""
    readers = []
    for folder in ("inference", "models", "nn"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.Attribute, ast.Name)) and getattr(node, "attr", getattr(node, "id", "")) in (
                        "environ", "getenv", "environb"):
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not readers, f"environment read in: {readers}"


# The mixture loops take any model of the protocol in models/mixture.py; these modules may not
# name a concrete mixture (the Gaussian's modules, the families), so a new likelihood needs no
# change to them.
GENERIC_LOOPS = ["vifit/inference/cavi.py", "vifit/inference/svi.py", "vifit/inference/memoized.py",
                 "vifit/inference/init.py", "vifit/inference/svi_checkpoint.py", "vifit/inference/sources.py",
                 "vifit/inference/starts.py", "vifit/inference/moves.py", "vifit/inference/svi_moves.py",
                 "vifit/distributed/cavi.py"]  # distributed/tasks.py also holds the gmm data moments and predict
CONCRETE = ("vifit.models.gmm", "vifit.models.families", "vifit.models.product")


def test_the_mixture_loops_import_no_concrete_mixture():
    for relative in GENERIC_LOOPS:
        named = {target for target in _imports(ROOT / relative) if target.startswith(CONCRETE)}
        assert not named, f"{relative} imports {sorted(named)}: loops hold a model of models/mixture.py's protocol"
