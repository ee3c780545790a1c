"""The reliability suite: faults and hostile clients reproduced with real processes, real
signals and real sockets, each kept fixed by a test here.

Projects, prebuilt definitions and registered models are the local engine's and the serve
tests' fixtures, imported rather than duplicated.
"""

from __future__ import annotations

import local.conftest as local_fixtures
import serve.conftest as serve_fixtures

# Fixtures, re-exported so pytest finds them for tests/reliability.
model_dir = serve_fixtures.model_dir
make_config = serve_fixtures.make_config
template = local_fixtures.template
make_project = local_fixtures.make_project
small_sample = local_fixtures.small_sample
single_threaded_jobs = local_fixtures.single_threaded_jobs
