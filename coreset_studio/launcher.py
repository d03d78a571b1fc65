"""`coreset-studio`: start the Streamlit studio, safe by default.

- It listens on 127.0.0.1 only. `--host ADDR` (e.g. 0.0.0.0) shares it on purpose and prints a
  warning: Streamlit has no login, so a shared studio belongs behind an authenticating proxy.
- Streamlit's XSRF protection and CORS checks stay on.
- On POSIX the launcher replaces itself with Streamlit (same PID, no child process), so
  stopping the `coreset-studio` PID stops the server; elsewhere it forwards the stop signal.
- The app is this package's `app.py` (with `page_scripts/` and `.streamlit/config.toml` beside
  it), in a source checkout and in an installed wheel alike.

Other arguments go to `streamlit run` unchanged (e.g. `--server.port 8502`).
This module must not import streamlit: it only builds the command line.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path


#: The address the studio listens on unless `--host` says otherwise.
DEFAULT_HOST = "127.0.0.1"
#: Settings that `coreset-studio` always passes (the user's own arguments come later and win).
SAFE_FLAGS = {
    "server.headless": "true",
    "server.enableXsrfProtection": "true",
    "server.enableCORS": "true",
    "browser.gatherUsageStats": "false",
}


def find_app() -> Path:
    """The studio's app.py (beside this module, in a checkout and in a wheel)."""
    app = Path(__file__).resolve().parent / "app.py"
    if not app.is_file():
        raise FileNotFoundError(f"the studio's app.py is missing from {app.parent}; reinstall Coreset Studio "
                                "(pip install coreset-studio, or pip install -e . from its source tree)")
    return app


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to a public interface
        return False


def share_warning(host: str) -> str:
    """What `coreset-studio --host <not loopback>` prints before starting."""
    return (f"WARNING: Coreset Studio will listen on {host}, so other machines can reach it. It has no login: "
            "anyone who reaches it can browse images and write exports under the allowed folders "
            "(CORESET_STUDIO_ROOTS) and start sweeps as your user. Share it only behind an authenticating "
            "reverse proxy (or let others use an SSH tunnel to a studio on 127.0.0.1, the default).")


def _pop_option(args: list[str], name: str) -> tuple[str | None, list[str]]:
    """The last value of `--name V` / `--name=V` in `args`, and `args` without it."""
    value, rest, i = None, [], 0
    while i < len(args):
        if args[i] == name and i + 1 < len(args):
            value, i = args[i + 1], i + 2
            continue
        if args[i].startswith(name + "="):
            value = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
        i += 1
    return value, rest


def parse_args(argv: list[str]) -> tuple[str, list[str]]:
    """(listening host, arguments for `streamlit run`). `--server.address` counts as `--host`."""
    parser = argparse.ArgumentParser(
        prog="coreset-studio", description=__doc__.split("\n\n")[0], allow_abbrev=False,
        epilog="Any other argument is passed to `streamlit run` (e.g. --server.port 8502).")
    parser.add_argument("--host", default=None, metavar="ADDR",
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only); "
                             "0.0.0.0 shares the studio with the network -- it has no login, put it behind "
                             "an authenticating proxy")
    known, extra = parser.parse_known_args(argv)
    address, extra = _pop_option(extra, "--server.address")
    host = known.host or address or DEFAULT_HOST
    if not host.strip():
        parser.error("--host needs an address, e.g. 127.0.0.1 or 0.0.0.0")
    return host, extra


def streamlit_command(app: Path, host: str, extra: list[str]) -> list[str]:
    """The `python -m streamlit run` command line for `app` listening on `host`."""
    flags = [item for key, value in SAFE_FLAGS.items() for item in (f"--{key}", value)]
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host, *flags, *extra]


def _run_child(cmd: list[str], env: dict[str, str]) -> int:
    """Run `cmd` as a child and pass SIGTERM/SIGINT on to it (for systems without exec)."""
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum: int, _frame: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # pragma: no cover - forwarded above; wait again for the child
            continue


def main(argv: list[str] | None = None) -> int:
    """Start the studio (see the module docstring); returns the exit status where exec is unavailable."""
    host, extra = parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        app = find_app()
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(host):
        print(share_warning(host), file=sys.stderr)
    for flag, what in (("--server.enableXsrfProtection", "XSRF"), ("--server.enableCORS", "CORS")):
        value, _ = _pop_option(extra, flag)
        if value is not None and value.lower() in ("false", "0", "no"):
            print(f"WARNING: {flag} {value} turns off the studio's {what} protection against other web sites.",
                  file=sys.stderr)
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    cmd = streamlit_command(app, host, extra)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(sys.executable, cmd, env)  # does not return: this PID becomes the server
    return _run_child(cmd, env)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
