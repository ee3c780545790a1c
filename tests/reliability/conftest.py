"""The reliability suite: faults and hostile clients reproduced with real processes, real
signals and real sockets, each kept fixed by a test here.

Projects and registered models are the serve tests' fixtures, imported rather than
duplicated.
"""

from __future__ import annotations

import serve.conftest as serve_fixtures

# Fixtures, re-exported so pytest finds them for tests/reliability.
model_dir = serve_fixtures.model_dir
make_config = serve_fixtures.make_config
