"""`coreset-studio`: start the Streamlit app (`app.py` next to the package)."""
from __future__ import annotations

import os
import subprocess
import sys

from .config import PROJECT_ROOT


def main(argv: list[str] | None = None) -> int:
    """Run `streamlit run app.py` with any extra arguments passed through (e.g. --server.port 8502)."""
    args = sys.argv[1:] if argv is None else argv
    app = PROJECT_ROOT / "app.py"
    if not app.is_file():
        print(f"error: {app} not found; install Coreset Studio from its source tree (pip install -e .)",
              file=sys.stderr)
        return 2
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true", *args]
    return subprocess.call(cmd, cwd=str(PROJECT_ROOT), env=env)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
