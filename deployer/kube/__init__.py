"""The only door to the Kubernetes API (the only importer of the ``kubernetes`` client).

- ``client``: one client per cluster and identity; timeouts, 401 re-read, error translation.
- ``bearer``: the bearer-source protocol a client authenticates with (credentials implement it).
- ``endpoint``: a cluster file's server and CA as an ``Endpoint``.
- ``resources``: apiVersion/kind -> URL, from the server's discovery (in memory, per run).
- ``objects``: list live objects, server-side apply (field manager ``deployer``), delete.
- ``inventory``: the record of what deployer applied, kept in each cluster.
- ``apply``: execute a ``deployer.plan.Plan`` on a cluster (tiers, prune, inventory).
- ``access``: SelfSubjectReview, SelfSubjectRulesReview, SelfSubjectAccessReview.
- ``leases``: read, create and replace the Leases behind the deploy lock.
- ``releases``: read and write release records (ConfigMaps).
- ``tokens``: TokenRequest, a short-lived ServiceAccount token.
- ``errors``: API answers and network failures -> ``deployer.errors``.

Every Kubernetes URL path is built in this package. It never imports ``deployer.credentials``:
``deployer.app`` puts a cluster's credential on its client. Importing a module here imports the
Kubernetes client (``bearer`` aside); the CLI imports them only inside commands.
"""
