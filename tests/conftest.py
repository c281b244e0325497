import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The tests' own ssh/git must never use the developer's agent or config.
os.environ.pop("SSH_AUTH_SOCK", None)
os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")

# A throw-away PostgreSQL server's fixtures: postgres_cluster, postgres_url, postgres_store(s).
pytest_plugins = ["tests.support.postgres"]
