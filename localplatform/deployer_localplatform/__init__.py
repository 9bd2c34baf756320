"""The local platform: real Kubernetes clusters, a registry and a GCP stand-in as processes.

Tests, benchmarks and the README's demo run deployer against it (see docs/platform.md). It is a
development package of deployer's repository (localplatform/), never part of deployer's wheel.

    platform.py      Platform(state_dir).up() / .down() / .status(): the composition
    topology.py      what runs: the two clusters, their users and authentication
    components.py    the command line of each process
    bootstrap.py     the files a cluster needs before it starts (PKI, tokens, kubeconfig, kwok)
    pki.py           CAs, serving certificates and signing keys (cryptography)
    kwok_stages/     how kwok's fake kubelets move pods (Stage YAML files), including the never-ready label
    processes.py     starting detached process groups, pid files, stopping without orphans
    readiness.py     waiting for a probe with a deadline, watching the process meanwhile
    apihttp.py       the platform's own HTTP calls (probes, creating nodes)
    binaries.py      finding or building the pinned binaries (scripts/build-platform-binaries.sh)
    packages.py      the Debian packages (registry, buildah, skopeo)
    clusterfiles.py  deployer cluster files describing the running clusters
    info.py          PlatformInfo: endpoints and paths of a running platform (no secrets)
    layout.py        where everything lives in the state folder
    gcp_standin/     the fake of Google IAM, OAuth and GKE's token webhook
    cli.py           `deployer platform ...` (a deployer.commands entry point) and `deployer-platform`
"""
