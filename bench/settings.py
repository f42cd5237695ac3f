"""Production settings plus the bench-only URLconf (the bare insert baseline).

Everything else comes from ``portal.settings`` and the environment that
``bench/common.py`` sets (DEBUG=0, a real SECRET_KEY, PostgreSQL, ...).
"""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"

# bench/templates: the layout-only page of bench_urls.
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]  # noqa: F405
