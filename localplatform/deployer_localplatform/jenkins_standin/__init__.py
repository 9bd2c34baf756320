"""A stand-in of the parts of Jenkins' remote API the deploy page's Jenkins executor calls, which
runs the repository's REAL Jenkinsfile through the pipeline harness (tests/jenkins) and its shell
steps for real, with credentials bound the way Jenkins binds them (server.py, builds.py).

Jenkins itself cannot be installed from any registry this machine reaches; like the GCP stand-in,
this is a fake only of what cannot exist here, and it behaves as Jenkins documents these calls.
Run it as a process (so the Jenkins credentials it holds live in it, not in its caller)::

    python -m deployer_localplatform.jenkins_standin --config CONFIG.json --state-dir DIR --port-file FILE

CONFIG.json: ``users`` (name -> API token), ``jobs`` (full name -> ``jenkinsfile``, ``workspace``,
``env``, ``agentEnv``, ``libraries``, ``inputs``, ``notRun``, ``waitForInput``), ``credentials`` (id -> ``kind``
string|file, ``secret``, ``fileName``), ``quietPeriod``, ``executors``, ``softKillWaitSeconds``.
"""

from deployer_localplatform.jenkins_standin.server import JenkinsStandIn

__all__ = ["JenkinsStandIn"]
