"""`make bench`: deployer against kubectl and Helm on the local platform, in one run (issue 13).

    stats.py     pure: medians, ratios, the doc's tables and the SVG charts
    peers.py     finding kubectl and Helm (building Helm with scripts/build-helm.sh if needed)
    workload.py  pure: the objects every tool is given (cluster files, the service, Helm charts)
    suite.py     the cases, run as processes against the local platform; writes docs/benchmarks.md
"""
