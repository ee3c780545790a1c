"""The environment a local job process gets: the container contract, not the caller's.

A SageMaker job runs in its own container: it sees the image's environment, the variables
of its request (`Environment`) and the platform's (`SM_*` for training), never the
environment of whoever started the pipeline. In particular it never sees the caller's AWS
keys. Locally a job is a process of this machine, so its environment is built rather than
inherited:

- what running an interpreter here needs: PATH, the locale (LANG, LANGUAGE, LC_*), TZ,
  TMPDIR, and the PYTHON* variables that locate or configure the interpreter
  (PYTHONPATH, PYTHONHOME, PYTHONUSERBASE, PYTHONHASHSEED, PYTHONIOENCODING, PYTHONUTF8,
  PYTHONUNBUFFERED, PYTHONDONTWRITEBYTECODE);
- thread-count limits (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS): on
  SageMaker a job has its instance's cores to itself; here it shares the machine with the
  engine and the other jobs, so a user (or the test suite) who caps native threads to avoid
  oversubscription wants the jobs capped too. The cap is also part of what makes a fit
  reproducible: OpenMP reductions (scikit-learn's gradient sums) add in an order that
  depends on the thread count, so two runs agree to the bit only with the same count, and
  the registry's content digest relies on identical runs giving identical models;
- HOME: a folder of the job's own (a container's home is the image's, empty of the
  caller's files), so ~/.aws/credentials and other dotfiles of the caller stay out of
  reach;
- then the platform's variables and the request's `Environment` on top.

Everything else (AWS_*, tokens, cloud and CI secrets, proxies) stays with the caller.
"""

from __future__ import annotations

import os
import site
import sys
from collections.abc import Mapping
from pathlib import Path

PASSED = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONHASHSEED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)
PASSED_PREFIXES = ("LC_",)


def job_environment(
    home: Path,
    variables: Mapping[str, str],
    caller: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The caller's interpreter essentials, HOME=`home` (created), then `variables` (the
    platform's and the request's, which win)."""
    caller = os.environ if caller is None else caller
    env = {
        key: value
        for key, value in caller.items()
        if key in PASSED or key.startswith(PASSED_PREFIXES)
    }
    if "PYTHONUSERBASE" not in env and _uses_user_site():
        # The interpreter's user site-packages are found through HOME, which changes here.
        env["PYTHONUSERBASE"] = site.getuserbase()
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env.update(variables)
    return env


def _uses_user_site() -> bool:
    return bool(site.ENABLE_USER_SITE) and site.getusersitepackages() in sys.path
