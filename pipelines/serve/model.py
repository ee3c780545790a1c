"""The model `serve` answers with: a registry version, extracted and loaded by its own code.

The handler is the `code/inference.py` inside the version's model.tar.gz (what the SageMaker
scikit-learn container runs through SAGEMAKER_PROGRAM), never training/inference.py from the
checkout: the repository's handler may have changed since that model was trained.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pipelines.app.runner import open_engine
from pipelines.config import ProjectConfig
from pipelines.local.registry import ModelRegistry, RegistryError
from pipelines.local.storage import ArtifactStore, StoreError, extract_tarball_safely
from pipelines.settings.deployment import load_deployment

HANDLER_PATH = Path("code") / "inference.py"
_import_lock = threading.Lock()


class ServeError(LookupError):
    """Nothing servable: no such version, no approved version, or a broken model archive."""


class PayloadError(ValueError):
    """A request body the handler could not decode for a reason of its shape (HTTP 400)."""


@dataclass(frozen=True)
class ServedModel:
    group: str
    version: int
    arn: str
    approval_status: str
    directory: Path
    handler: ModuleType
    model: Any

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> tuple[str, str]:
        """What the serving container does per request: input_fn -> predict_fn -> output_fn."""
        try:
            data = self.handler.input_fn(body, content_type)
        except RecursionError:
            # json.loads gives up on deep nesting with RecursionError, which is no ValueError:
            # the client's payload is at fault, not the model.
            raise PayloadError(
                "the payload is nested too deeply to decode: send flat records"
            ) from None
        prediction = self.handler.predict_fn(data, self.model)
        return self.handler.output_fn(prediction, accept)


def choose_version(registry: ModelRegistry, group: str, version: int | None) -> dict[str, Any]:
    """The newest Approved version of `group`, or version N whatever its status."""
    if version is None:
        package = registry.latest(group, "Approved")
        if package is None:
            raise ServeError(
                f"no Approved version of {group} in the local registry: run the pipeline "
                "(`python run_pipeline.py`) and approve a version (`python run_pipeline.py "
                "registry approve N`), or name one with --model-version N"
            )
        return package
    try:
        return registry.describe(version, group)
    except RegistryError as exc:
        raise ServeError(str(exc)) from None


@dataclass(frozen=True)
class ExtractionLimits:
    max_bytes: int
    max_files: int


def extract(
    store: ArtifactStore, package: dict[str, Any], cache_root: Path, limits: ExtractionLimits
) -> Path:
    """The version's model.tar.gz unpacked under `cache_root`, once per archive content."""
    url = package.get("ModelDataUrl")
    if not url:
        raise ServeError(f"{package['ModelPackageArn']} names no ModelDataUrl")
    try:
        tarball = store.path_for(url)
    except StoreError as exc:
        raise ServeError(f"{url}: {exc}") from None
    if not tarball.is_file():
        raise ServeError(f"{url}: model archive missing from the local store ({tarball})")
    # Keyed by version and content: a rebuilt store never serves a stale extraction.
    digest = store.file_digest(tarball)[:12]
    target = cache_root / f"v{package['ModelPackageVersion']}-{digest}"
    if (target / HANDLER_PATH).is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    # Extract beside the target and rename: a second `serve` never sees half an archive.
    check_archive_size(tarball, url, limits)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache_root))
    try:
        extract_tarball_safely(tarball, staging)
        if not (staging / HANDLER_PATH).is_file():
            raise ServeError(f"{url}: the archive has no {HANDLER_PATH.as_posix()}")
        try:
            staging.rename(target)
        except OSError:
            if not (target / HANDLER_PATH).is_file():
                raise
    except StoreError as exc:
        raise ServeError(str(exc)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def check_archive_size(tarball: Path, url: str, limits: ExtractionLimits) -> None:
    """Refuse an archive that would unpack to more than the limits, before writing anything.

    Read as a stream, member headers only: the scan stops at the first member over a limit
    without decompressing its data, so a decompression bomb costs no disk and little time.
    """
    total = 0
    try:
        with tarfile.open(tarball, mode="r|*") as archive:
            for count, member in enumerate(archive, start=1):
                if count > limits.max_files:
                    raise ServeError(
                        f"{url} ({tarball}): the archive has more than {limits.max_files} "
                        "members, over [deployment].max_extracted_files"
                    )
                if member.isfile():
                    total += member.size
                if total > limits.max_bytes:
                    raise ServeError(
                        f"{url} ({tarball}): the archive would extract to more than "
                        f"{limits.max_bytes} bytes (at member {member.name!r}), over "
                        "[deployment].max_extracted_bytes"
                    )
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ServeError(f"{url} ({tarball}): cannot read the archive: {exc}") from None


def import_handler(directory: Path, version: int) -> ModuleType:
    """The archive's own code/inference.py as a uniquely named module."""
    # The folder name (v<N>-<archive digest>) makes the module name unique per archive.
    name = "served_inference_" + directory.name.replace("-", "_")
    with _import_lock:
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, directory / HANDLER_PATH)
        if spec is None or spec.loader is None:
            raise ServeError(f"cannot import {directory / HANDLER_PATH}")
        module = importlib.util.module_from_spec(spec)
        # Registered before running it: dataclasses look their module up in sys.modules.
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    for function in ("model_fn", "input_fn", "predict_fn", "output_fn"):
        if not callable(getattr(module, function, None)):
            raise ServeError(f"{directory / HANDLER_PATH} defines no {function}()")
    return module


def load(config: ProjectConfig, version: int | None = None) -> ServedModel:
    settings = load_deployment(config)
    limits = ExtractionLimits(settings.max_extracted_bytes, settings.max_extracted_files)
    engine = open_engine(config)
    group = config.pipeline.model_package_group
    package = choose_version(engine.registry, group, version)
    directory = extract(engine.store, package, config.local_home / "serving" / group, limits)
    handler = import_handler(directory, package["ModelPackageVersion"])
    return ServedModel(
        group=group,
        version=package["ModelPackageVersion"],
        arn=package["ModelPackageArn"],
        approval_status=package["ModelApprovalStatus"],
        directory=directory,
        handler=handler,
        model=handler.model_fn(str(directory)),
    )
