"""Where the project's files are, in a checkout and in an installed wheel.

The container scripts (processing/, training/, evaluation/), the Lambda handlers (lambdas/),
the Airflow DAG (dags/), the default `pipeline.toml` and the bundled sample (data/sample/)
are top-level folders of the repository. A wheel ships them inside the package, under
`pipelines/_project/` (setup.py maps them there), since an installed package has no
checkout around it. `BUNDLED_ROOT` is whichever of the two this copy of the package has.

A user's project folder is the folder of the `pipeline.toml` in use: `--config PATH`, else
`./pipeline.toml` in the current directory, else the bundled default. Relative paths in it
resolve against that folder; each of processing/, training/, evaluation/, lambdas/ and the
sample file not found there comes from the bundle. The bundled default lives in
site-packages when installed, which is no place to write: its local home (`[local].home`)
resolves against the current directory instead.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE_NAME = "pipeline.toml"
CODE_FOLDERS = ("processing", "training", "evaluation", "lambdas", "dags")

_PACKAGE_DIR = Path(__file__).resolve().parent
# Written by the wheel build (setup.py); absent in a checkout and in an editable install.
INSTALLED_ROOT = _PACKAGE_DIR / "_project"
CHECKOUT_ROOT = _PACKAGE_DIR.parent
BUNDLED_ROOT = INSTALLED_ROOT if (INSTALLED_ROOT / CONFIG_FILE_NAME).is_file() else CHECKOUT_ROOT
BUNDLED_CONFIG = BUNDLED_ROOT / CONFIG_FILE_NAME


def find_config(cwd: Path | None = None) -> Path:
    """The `pipeline.toml` used when none is named: the current directory's, else the
    bundled default."""
    local = (cwd or Path.cwd()) / CONFIG_FILE_NAME
    return local if local.is_file() else BUNDLED_CONFIG


def code_folder(project_root: Path, name: str) -> Path:
    """`name` (processing, training, evaluation, lambdas, dags) of the project folder, else
    the bundled one: a folder next to a user's pipeline.toml replaces the packaged code."""
    if name not in CODE_FOLDERS:
        raise ValueError(f"{name!r} is not one of the project's code folders {CODE_FOLDERS}")
    own = project_root / name
    return own if own.is_dir() else BUNDLED_ROOT / name


def project_file(project_root: Path, relative: str | os.PathLike[str]) -> Path:
    """A read-only input named relative to pipeline.toml (the sample): the project folder's
    if it is there, else the bundled one."""
    path = Path(relative)
    if path.is_absolute():
        return path
    own = project_root / path
    bundled = BUNDLED_ROOT / path
    return bundled if not own.exists() and bundled.exists() else own


def writable_root(project_root: Path) -> Path:
    """What relative writable paths (the local home) resolve against: the project folder,
    or the current directory when that folder is the installed package's own."""
    if project_root.resolve() == INSTALLED_ROOT:
        return Path.cwd()
    return project_root
