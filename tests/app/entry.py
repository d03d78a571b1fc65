"""AppTest entry point: runs the studio's app.py.

AppTest falls back to running a page file directly (skipping app.py and its sidebar) when
its main script sits next to a `pages/` folder, even though app.py uses st.navigation;
a main script in this folder avoids that, and app.py's absolute page paths still resolve.
"""
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[2] / "app.py"), run_name="__main__")
