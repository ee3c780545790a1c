"""The one thing pyproject.toml cannot say: ship the repository's top-level project folders
inside the package.

The container scripts, Lambda handlers, Airflow DAG, default pipeline.toml and bundled sample
stay top-level folders in the repository (they are uploaded as job code and must not import
`pipelines`), and an installed wheel carries them as `pipelines/_project/` package data, where
pipelines/project_files.py finds them. Everything else is declared in pyproject.toml.
"""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

BUNDLE = "pipelines._project"
CODE_FOLDERS = ("processing", "training", "evaluation", "lambdas", "dags")


class BuildPy(build_py):
    """Leaves out the repository root's own modules (run_pipeline.py, setup.py): the bundle
    maps to the root only for pipeline.toml and the folders below it."""

    def find_package_modules(self, package, package_dir):
        if package == BUNDLE:
            return []
        return super().find_package_modules(package, package_dir)


setup(
    packages=[
        *find_packages(include=["pipelines", "pipelines.*"]),
        BUNDLE,
        *(f"{BUNDLE}.{folder}" for folder in CODE_FOLDERS),
        f"{BUNDLE}.data.sample",
        # Folders of data files, named as packages so that setuptools ships them without
        # warning that an importable folder is missing from `packages`.
        "pipelines.view.templates",
        "pipelines.view.static",
    ],
    package_dir={BUNDLE: "."},
    package_data={
        "pipelines.view.templates": ["*.j2"],
        "pipelines.view.static": ["*"],
        BUNDLE: ["pipeline.toml"],
        # Non-Python files the jobs read (a training requirements.txt, say) ship as well.
        **{f"{BUNDLE}.{folder}": ["*"] for folder in CODE_FOLDERS},
        f"{BUNDLE}.data.sample": ["*"],
    },
    exclude_package_data={"": ["__pycache__", "*.pyc"]},
    cmdclass={"build_py": BuildPy},
)
