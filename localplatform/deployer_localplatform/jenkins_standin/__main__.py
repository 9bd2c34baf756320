"""``python -m deployer_localplatform.jenkins_standin --config FILE --state-dir DIR [--port-file FILE]``

Runs until SIGTERM or SIGINT (running builds are stopped as Jenkins stops them). The port file is
written atomically once the socket listens, so a parent can wait for it and read the port.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from deployer_localplatform.jenkins_standin.server import JenkinsStandIn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployer_localplatform.jenkins_standin",
                                     description="A local stand-in for the Jenkins remote API calls of "
                                                 "deployer's Jenkins executor.")
    parser.add_argument("--config", required=True, type=Path, help="users, jobs and credentials (JSON)")
    parser.add_argument("--state-dir", required=True, type=Path, help="folder for builds' logs and archives")
    parser.add_argument("--port", default=0, type=int, help="port to listen on (default 0: a free one)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM; needs --tls-key)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s jenkins-standin %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        config = json.loads(args.config.read_text())
        tls = (args.tls_cert, args.tls_key) if args.tls_cert and args.tls_key else None
        standin = JenkinsStandIn(config, args.state_dir, port=args.port, tls=tls)
    except (OSError, ValueError, KeyError) as exc:
        print(f"jenkins-standin: error: cannot start with {args.config}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    base = standin.start()
    if args.port_file:
        fd, tmp = tempfile.mkstemp(prefix=".port-", dir=args.port_file.parent)
        with os.fdopen(fd, "w") as out:
            out.write(f"{standin.port}\n")
        os.replace(tmp, args.port_file)
    logging.getLogger("deployer_localplatform.jenkins_standin").info("listening on %s", base)
    while not stop.wait(1.0):
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
