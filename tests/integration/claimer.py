"""A process of worker threads that run every queued job of a database with a trivial job body
and exit when none is left: `python -m tests.integration.claimer URL GO_FILE THREADS`. It starts
claiming once GO_FILE exists, so several such processes start their claims together."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from deployer.pipeline.report import ClusterReport, End, EndState, RunReport
from deployer.web.store.database import open_database
from deployer.web.store.jobs import JobStore
from deployer.web.worker import Worker


def main(url: str, go: Path, threads: int) -> None:
    store = JobStore(open_database(url))

    def work_for(config_dir, form, actor, stop, job_id):
        def work(progress):
            progress("c1", f"ran by {threading.current_thread().name}")
            return RunReport(form.action, form.service, form.environment,
                             [ClusterReport("c1", "succeeded", end=EndState(End.NEW, 1))])
        return work

    def drain(name: str) -> None:
        worker = Worker(store, Path("."), name=name, work_for=work_for, heartbeat=5)
        while worker.run_one():
            pass

    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    runners = [threading.Thread(target=drain, args=(f"p{os.getpid()}-t{n}",), name=f"p{os.getpid()}-t{n}")
               for n in range(threads)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
