"""The code each job runs, packaged reproducibly and addressed by content.

A step's cache key includes the S3 URI of its code. Keys derived from the content (never
from a timestamp) make the definition byte-identical across builds of unchanged code and
change exactly the steps whose code changed. Training uses the scikit-learn image's
training-toolkit contract: `sagemaker_program` names the entry point inside
`sagemaker_submit_directory`, a tar.gz of the `training/` folder.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipelines import arns
from pipelines.config import ProjectConfig, Target
from pipelines.project_files import code_folder

DIGEST_LENGTH = 16
TRAINING_ENTRY_POINT = "train.py"
SOURCEDIR_NAME = "sourcedir.tar.gz"
_EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class CodeAsset:
    """One uploadable piece of job code and where it lives in S3."""

    name: str
    filename: str
    data: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:DIGEST_LENGTH]

    @property
    def lambda_code_sha256(self) -> str:
        """What Lambda reports as CodeSha256 for this zip: equal means the code is deployed."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()

    def s3_uri(self, bucket: str, prefix: str) -> str:
        return f"s3://{bucket}/{prefix}/code/{self.digest}/{self.filename}"


def script_asset(name: str, path: Path) -> CodeAsset:
    """A single processing script, uploaded as is."""
    return CodeAsset(name=name, filename=path.name, data=path.read_bytes())


def source_dir_asset(name: str, directory: Path) -> CodeAsset:
    """A folder as a tar.gz whose bytes depend only on file names and contents."""
    files = sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and not _EXCLUDED_PARTS.intersection(path.relative_to(directory).parts)
        and not path.name.startswith(".")
        and path.suffix != ".pyc"
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(directory).as_posix())
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    # mtime=0 keeps the gzip header free of the build time.
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return CodeAsset(name=name, filename=SOURCEDIR_NAME, data=compressed.getvalue())


def zip_asset(name: str, path: Path) -> CodeAsset:
    """One file as a zip whose bytes depend only on its name and content (Lambda's format)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())
    return CodeAsset(name=name, filename=f"{path.stem}.zip", data=buffer.getvalue())


@dataclass(frozen=True)
class ProjectCode:
    """The code of the jobs, read once per definition build."""

    preprocess: CodeAsset
    train: CodeAsset
    evaluate: CodeAsset
    # The drift check, the baseline and the endpoint's monitoring job.
    data_quality: CodeAsset

    def all(self) -> tuple[CodeAsset, ...]:
        return (self.preprocess, self.train, self.evaluate, self.data_quality)


def project_code(config: ProjectConfig) -> ProjectCode:
    """The job code of the project folder, each folder it lacks taken from the package."""
    processing = code_folder(config.root, "processing")
    return ProjectCode(
        preprocess=script_asset("preprocess", processing / "preprocess.py"),
        train=source_dir_asset("train", code_folder(config.root, "training")),
        evaluate=script_asset("evaluate", code_folder(config.root, "evaluation") / "evaluate.py"),
        data_quality=script_asset("data_quality", processing / "data_quality.py"),
    )


def code_uri(asset: CodeAsset, config: ProjectConfig, target: Target) -> str:
    return asset.s3_uri(target.bucket, config.pipeline.s3_prefix)


def sample_data_uri(config: ProjectConfig, target: Target) -> str:
    """Where the bundled sample lives in S3 (or in the local store): the default input."""
    name = Path(config.pipeline.sample_data).name
    return f"s3://{target.bucket}/{config.pipeline.s3_prefix}/data/sample/{name}"


NO_CHAMPION_MARKER = "NO_CHAMPION"


def no_champion_uri(config: ProjectConfig, target: Target) -> str:
    """A prefix holding only a NO_CHAMPION marker: the champion input when there is none.

    A processing input must name existing objects, so "no champion" is an object too.
    """
    return f"s3://{target.bucket}/{config.pipeline.s3_prefix}/registry/no-champion/"


def registry_claims_uri(config: ProjectConfig, target: Target) -> str:
    """Where FindRegisteredModel claims a model's digest before it is registered
    (`<group>/<digest>.json`, written with S3 conditional writes: one claimant per digest)."""
    return f"s3://{target.bucket}/{config.pipeline.s3_prefix}/registry-claims/"


def snapshots_uri(config: ProjectConfig, target: Target) -> str:
    """Where SnapshotInput writes each input snapshot, under its fingerprint."""
    return f"s3://{target.bucket}/{config.pipeline.s3_prefix}/snapshots/"


def champion_function_name(config: ProjectConfig) -> str:
    return f"{config.pipeline.name}-resolve-champion"


def snapshot_function_name(config: ProjectConfig) -> str:
    return f"{config.pipeline.name}-snapshot-input"


def function_arn(name: str, target: Target) -> str:
    return arns.arn("lambda", target.region, target.account_id, f"function:{name}")


def champion_function_arn(config: ProjectConfig, target: Target) -> str:
    return function_arn(champion_function_name(config), target)


def snapshot_function_arn(config: ProjectConfig, target: Target) -> str:
    return function_arn(snapshot_function_name(config), target)


def lambda_functions(config: ProjectConfig) -> dict[str, Path]:
    """The project's Lambda functions: name -> the file whose `handler` they run."""
    lambdas = code_folder(config.root, "lambdas")
    return {
        champion_function_name(config): lambdas / "resolve_champion.py",
        snapshot_function_name(config): lambdas / "snapshot_input.py",
    }
