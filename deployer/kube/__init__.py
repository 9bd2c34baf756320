"""The only door to the Kubernetes API (the only importer of the ``kubernetes`` client).

- ``client``: one client per cluster and identity; timeouts, 401 re-read, error translation.
- ``resources``: apiVersion/kind -> URL, from the server's discovery (in memory, per run).
- ``objects``: list live objects, server-side apply (field manager ``deployer``), delete.
- ``inventory``: the record of what deployer applied, kept in each cluster.
- ``apply``: execute a ``deployer.plan.Plan`` on a cluster (tiers, prune, inventory).
- ``access``: SelfSubjectReview, SelfSubjectRulesReview, SelfSubjectAccessReview.
- ``errors``: API answers and network failures -> ``deployer.errors``.

Importing this package imports the Kubernetes client; the CLI imports it only inside commands.
"""
