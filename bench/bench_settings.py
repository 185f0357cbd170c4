"""Settings for bench/bench_customer360.py's gunicorn only: fincrm's settings plus a bare view
(bench_urls) and a header with the SQL queries per request. Never used outside the benchmark."""

from fincrm.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"
# Measured as deployed: DEBUG on (the development profile's default) keeps every SQL statement and
# template debug data per request.
DEBUG = False
MIDDLEWARE = ["bench.bench_urls.QueryCountMiddleware", *MIDDLEWARE]  # noqa: F405
FINCRM_API_RATE_LIMIT_PER_MINUTE = 10**9
# The benchmark looks up thousands of numbers a minute as one user; the anti-enumeration limit
# (30 a minute) is measured by tests, not here.
FINCRM_IDENTIFIER_SEARCHES_PER_MINUTE = 10**9
