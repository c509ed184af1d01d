"""`python -m services.ops`: the faust worker (and its web server on OPS_WEB_PORT); extra arguments go to faust."""

import sys

from services.ops.app import build
from services.ops.config import OpsConfig

app, _ = build(OpsConfig.from_env())
if __name__ == "__main__":
    # faust's own command line; with no arguments, a worker that logs at info level
    sys.argv[1:] = sys.argv[1:] or ["worker", "--loglevel", "info"]
    app.main()
