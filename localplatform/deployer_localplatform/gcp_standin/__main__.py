"""``python -m deployer_localplatform.gcp_standin --state-dir DIR [--port-file FILE] ...``

Runs until SIGTERM or SIGINT. The port file is written (atomically) once the socket listens, so
a parent process can wait for it to appear and read the port from it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from deployer_localplatform.gcp_standin.server import GcpStandIn


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deployer_localplatform.gcp_standin",
                                     description="A local stand-in for Google IAM, Resource Manager, the "
                                                 "OAuth token endpoint and GKE's token webhook.")
    parser.add_argument("--state-dir", required=True, type=Path, help="folder of the persisted state")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", default=0, type=int, help="port to listen on (default 0: a free one)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--project", action="append", default=[], metavar="ID",
                        help="a project that exists (repeatable; kept in the state)")
    parser.add_argument("--token-ttl", type=int, metavar="SECONDS",
                        help="lifetime of issued access tokens (default: as stored, else 3600)")
    return parser


def _write_port_file(path: Path, port: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".port-", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        out.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s gcp-standin %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    standin = None
    try:
        standin = GcpStandIn(args.state_dir, projects=args.project, token_ttl=args.token_ttl,
                             host=args.host, port=args.port)
        base_url = standin.start()
        if args.port_file:
            _write_port_file(args.port_file, standin.port)
    except (OSError, ValueError) as exc:
        if standin is not None:
            standin.stop()
        print(f"gcp-standin: error: cannot start on {args.host}:{args.port} with state in {args.state_dir}: "
              f"{exc}", file=sys.stderr)
        return 1
    logging.getLogger("deployer_localplatform.gcp_standin").info(
        "listening on %s (token endpoint %s/token, webhook %s/tokenreview)", base_url, base_url, base_url)
    while not stop.wait(1.0):
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
