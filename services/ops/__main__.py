"""`python -m services.ops`: the faust worker (and its web server on OPS_WEB_PORT); extra arguments go to faust."""

import gc
import sys

from services.ops.app import build
from services.ops.config import OpsConfig
from shared.access import OPS
from shared.infra.kafka_auth import adopt_principal

adopt_principal(OPS)  # before any client is built: the dashboard reads, it never writes the platform's topics

# The tables are a large, long-lived heap of small dicts (every order's timeline), and a fold allocates a few
# objects per event: with the default thresholds (700, 10, 10) the cyclic collector ran ~30 times a second and
# took ~19% of the app's CPU (measured with gc.callbacks in the benchmark); collecting young objects every 50,000
# allocations instead took ~5%. Reference counting still frees everything without cycles at once.
gc.set_threshold(50_000, 20, 10)
app, _ = build(OpsConfig.from_env())
if __name__ == "__main__":
    # faust's own command line; with no arguments, a worker that logs at info level
    sys.argv[1:] = sys.argv[1:] or ["worker", "--loglevel", "info"]
    app.main()
