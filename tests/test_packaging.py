"""`pip install .` (not editable): the wheel carries the job code, the Lambda handlers, the
default pipeline.toml and the sample, and its commands work from an empty directory.

The wheel is built from a copy of the project's files with the test environment's own
setuptools (no build isolation, no index: nothing is downloaded) and installed without its
dependencies into a fresh virtualenv that sees the test environment's site-packages (the
dependencies) through a .pth file, but not its editable install of this checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from pipelines.code_assets import project_code
from pipelines.config import PROJECT_ROOT, load_config

pytestmark = pytest.mark.slow

# What `pip install .` reads: the packaging files and everything setup.py ships.
SOURCES = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "pipeline.toml",
    "pipelines",
    "processing",
    "training",
    "evaluation",
    "lambdas",
    "dags",
    "data/sample",
)
BUNDLED = ("processing", "training", "evaluation", "lambdas", "dags")


def _can_build_wheels() -> bool:
    # setuptools >= 70.1 has bdist_wheel itself; older ones need the `wheel` package.
    return any(
        importlib.util.find_spec(name) is not None
        for name in ("setuptools.command.bdist_wheel", "wheel")
    )


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not _can_build_wheels():
        pytest.fail(
            "building a wheel needs setuptools >= 70.1 (or the wheel package) in the test "
            "environment: pip install -e '.[test]'"
        )
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    for name in SOURCES:
        origin = PROJECT_ROOT / name
        if origin.is_dir():
            shutil.copytree(
                origin,
                source / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pipeline-local"),
            )
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy(origin, source / name)
    env = _clean_environment(root)
    python = sys.executable
    _run(
        [
            python,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(root / "dist"),
            str(source),
        ],
        root,
        env,
    )
    (wheel,) = (root / "dist").glob("*.whl")

    venv = root / "venv"
    _run([python, "-m", "venv", "--without-pip", str(venv)], root, env)
    venv_python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.check_output(
            [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    # The dependencies: the test environment's site-packages, without processing its .pth
    # files (one of which maps `pipelines` to this checkout in an editable install).
    dependency_dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    dependency_dirs |= {entry for entry in sys.path if entry.endswith("site-packages")}
    (site_packages / "test-dependencies.pth").write_text(
        "\n".join(sorted(d for d in dependency_dirs if Path(d) != site_packages)) + "\n"
    )
    _run(
        [
            python,
            "-m",
            "pip",
            "--python",
            str(venv_python),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        root,
        env,
    )
    empty = root / "empty"
    empty.mkdir()
    return {"wheel": wheel, "venv": venv, "site_packages": site_packages, "empty": empty}


def _clean_environment(home: Path) -> dict[str, str]:
    """No AWS, project or SDK-config variables, no PYTHONPATH: what a new user's shell has."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PIPELINE_", "SAGEMAKER_", "PYTHON"))
    }
    env["HOME"] = str(home)
    return env


def test_the_wheel_carries_the_job_code_the_lambdas_the_config_and_the_sample(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for folder in BUNDLED:
        for path in (PROJECT_ROOT / folder).glob("*.py"):
            assert f"pipelines/_project/{folder}/{path.name}" in names
    assert "pipelines/_project/pipeline.toml" in names
    assert "pipelines/_project/data/sample/transactions.csv" in names
    assert "pipelines/view/templates/base.html.j2" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    # Only the project's folders: the repository root's own modules stay out.
    top_level = {n for n in names if n.startswith("pipelines/_project/") and n.count("/") == 2}
    assert top_level == {"pipelines/_project/pipeline.toml"}


def test_get_pipeline_definition_runs_from_an_empty_directory_with_the_packaged_code(installed):
    empty, venv = installed["empty"], installed["venv"]
    env = _clean_environment(empty.parent)
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import pipelines; print(pipelines.__file__)"],
        empty,
        env,
    ).stdout
    assert where.startswith(str(installed["site_packages"])), where

    result = _run([str(venv / "bin" / "get-pipeline-definition")], empty, env)
    definition = json.loads(result.stdout)
    assert [step["Name"] for step in definition["Steps"]][:3] == [
        "ResolveChampion",
        "SnapshotInput",
        "Preprocess",
    ]
    # The installed package's job code is the checkout's, byte for byte: the same
    # content-addressed URIs as a build from the checkout.
    config = load_config(PROJECT_ROOT / "pipeline.toml", environ={})
    bucket, prefix = config.aws.local_bucket, config.pipeline.s3_prefix
    for asset in project_code(config).all():
        assert asset.s3_uri(bucket, prefix) in result.stdout, asset.name
    # Building wrote nothing: not into the empty directory, not into site-packages.
    assert list(empty.iterdir()) == []
    assert not list(installed["site_packages"].rglob(".pipeline-local"))


def test_run_pipeline_and_python_m_pipelines_answer_from_an_empty_directory(installed):
    empty, venv = installed["empty"], installed["venv"]
    env = _clean_environment(empty.parent)
    assert "start" in _run([str(venv / "bin" / "run-pipeline"), "--help"], empty, env).stdout
    python_m = _run([str(venv / "bin" / "python"), "-m", "pipelines", "--help"], empty, env)
    assert "definition" in python_m.stdout
    # The bundled default's local home is the current directory's, never site-packages.
    listed = _run([str(venv / "bin" / "run-pipeline"), "executions", "list"], empty, env)
    assert str(empty / ".pipeline-local" / "state.db") in listed.stdout


def test_a_pipeline_toml_in_the_current_directory_is_used_before_the_bundled_one(installed):
    venv = installed["venv"]
    project = installed["empty"].parent / "own-project"
    project.mkdir()
    text = (PROJECT_ROOT / "pipeline.toml").read_text(encoding="utf-8")
    (project / "pipeline.toml").write_text(
        text.replace('name = "fraud-detection-retraining"', 'name = "my-own-pipeline"', 1),
        encoding="utf-8",
    )
    env = _clean_environment(project.parent)
    script = (
        "from pipelines.code_assets import lambda_functions, project_code\n"
        "from pipelines.config import load_config\n"
        "config = load_config()\n"
        "print(config.path, config.pipeline.name, config.local_home, config.sample_data_path)\n"
        "print(*[a.digest for a in project_code(config).all()])\n"
        "print(*sorted(str(p) for p in lambda_functions(config).values()))\n"
    )
    lines = _run([str(venv / "bin" / "python"), "-c", script], project, env).stdout.splitlines()
    path, name, home, sample = lines[0].split()
    assert (path, name, home) == (
        str(project / "pipeline.toml"),
        "my-own-pipeline",
        str(project / ".pipeline-local"),
    )
    # Code and sample the project folder lacks come from the package, unchanged.
    bundle = installed["site_packages"] / "pipelines" / "_project"
    assert sample == str(bundle / "data" / "sample" / "transactions.csv")
    checkout = load_config(PROJECT_ROOT / "pipeline.toml", environ={})
    assert lines[1].split() == [asset.digest for asset in project_code(checkout).all()]
    assert all(p.startswith(str(bundle / "lambdas")) for p in lines[2].split())
