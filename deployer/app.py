"""The composition root: what every story needs for one run, built from the Config in one place
(Helm's ``action.Configuration`` is the model). The CLI and the web page build an ``App`` and call
the same stories in ``deployer.pipeline`` with it; the stories never build a client themselves.

An ``App`` holds, for one run:
- one client per cluster and credential (the deploy credential, and the admin credential for
  cluster sync, verify and deleting what the deploy role may not), each built on first use from
  that cluster's own file and credential and kept until ``close``;
- the image publisher (build once per commit, push to every target registry; copy a promoted
  digest) and the Terraform runner;
- progress, clocks and the poll interval, which tests replace to run waits in milliseconds.

Nothing heavy is imported here at module level: ``deployer --help`` never loads the Kubernetes
client, google-auth or Terraform.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deployer.config.loader import Config
from deployer.config.models import Cluster, Credential, Service, TokenCredential
from deployer.errors import DeployerError
from deployer.notify.events import Events, Subscriber
from deployer.stopping import Stop

if TYPE_CHECKING:  # imported for real only when a client or a publisher is built
    from deployer.credentials import BearerSource, TokenExchange
    from deployer.credentials.gke_endpoint import ControlPlane
    from deployer.images.publish import Published
    from deployer.infra.provision import ProvisionResult
    from deployer.kube.client import ClientOptions, Endpoint, KubeClient
    from deployer.notify.sender import Notifier
    from deployer.observe.metrics import DeployMetrics
    from deployer.rollout.promotion import Promotion

Locate = Callable[[Cluster, Config, "BearerSource"], "ControlPlane"]
"""Finds a GKE cluster's control plane by name, as the given Google identity."""
Progress = Callable[[str, str], None]
"""(cluster, or "" for the whole run; message)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def connect(cluster: Cluster, config: Config, *, admin: bool = False,
            options: ClientOptions | None = None, locate: Locate | None = None,
            sleep: Callable[[float], None] = time.sleep, on_retry: Callable[[str], None] | None = None
            ) -> KubeClient:
    """A client for ``cluster`` authenticating with its own credential: the deploy ``credential``,
    or with ``admin`` its ``adminCredential`` (falling back to ``credential``). Built from that
    one cluster's file, so no token ever travels to another cluster's API server. A GKE cluster
    whose file gives no server (or no ca) is first found by name through the GKE API, with
    ``locate`` (``App`` passes one that asks once per cluster per run). ``on_retry`` hears each
    retry the client makes (as progress), ``sleep`` waits before it."""
    from deployer.credentials import bearer_source
    from deployer.kube.client import ClientOptions, KubeClient
    from deployer.kube.endpoint import endpoint_of, needs_lookup

    looked_up = google = None
    if needs_lookup(cluster):
        google = _google_bearer(cluster, config, admin)
        looked_up = (locate or look_up_control_plane)(cluster, config, google)
    endpoint = endpoint_of(cluster, config, looked_up)
    declared = _declared(cluster, admin)
    bearer = (google if google is not None and not isinstance(declared, TokenCredential)
              else bearer_source(cluster, config, admin=admin, exchange=_token_exchange(endpoint)))
    return KubeClient(endpoint, bearer, options or ClientOptions(),
                      identity=f"the cluster's {credential_of(cluster, admin)} ({bearer.describe()})",
                      sleep=sleep, on_retry=on_retry)


def look_up_control_plane(cluster: Cluster, config: Config, bearer: BearerSource) -> ControlPlane:
    """Ask the GKE API where ``cluster``'s API server is, as ``bearer``'s Google identity."""
    from deployer.config.yamlsafe import ConfigFileError, load_yaml
    from deployer.credentials.gke_endpoint import ClusterRef, look_up

    assert cluster.gke is not None
    file = config.cluster_files.get(cluster.name, config.root / "clusters" / f"{cluster.name}.yaml")

    def locate() -> tuple[int | None, int | None]:
        # Only for a message: a lookup that succeeds does not parse the file again.
        try:
            return load_yaml(file).position(("gke", "cluster"))
        except ConfigFileError:  # the file changed since it was loaded: the message still names it
            return None, None

    ref = ClusterRef(cluster.name, cluster.gke, str(file), locate=locate)
    return look_up(ref, bearer.token, bearer.describe())


def _declared(cluster: Cluster, admin: bool) -> Credential:
    return (cluster.admin_credential or cluster.credential) if admin else cluster.credential


def _google_bearer(cluster: Cluster, config: Config, admin: bool) -> BearerSource:
    """The Google identity that looks a cluster up: the client's own, unless that is a Kubernetes
    token (an adminCredential may be one on GKE); then the cluster's deploy credential."""
    from deployer.credentials import bearer_source

    if isinstance(_declared(cluster, admin), TokenCredential):
        return bearer_source(cluster, config)
    return bearer_source(cluster, config, admin=admin)


def credential_of(cluster: Cluster, admin: bool) -> str:
    """Which of the cluster's credentials a client ``admin`` or not authenticates with."""
    return "admin credential" if admin and cluster.admin_credential is not None else "credential"


def _token_exchange(endpoint: Endpoint) -> TokenExchange:
    """A TokenRequest to ``endpoint``, sent with the long-lived token it exchanges."""

    def exchange(long_lived: Any, namespace: str, service_account: str, seconds: int) -> tuple[str, dt.datetime]:
        from deployer.kube.client import KubeClient
        from deployer.kube.tokens import request_token

        client = KubeClient(endpoint, long_lived, identity=long_lived.describe())
        try:
            return request_token(client, namespace, service_account, seconds)
        finally:
            client.close()

    return exchange


def _quiet(cluster: str, message: str) -> None:
    pass


class App:
    """What the stories share for one run. Thread-safe: the stories fan out over clusters."""

    def __init__(self, config: Config, *, progress: Progress | None = None,
                 now: Callable[[], dt.datetime] = utcnow, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, poll_interval: float = 1.0,
                 stop: Stop | None = None, publishers: Publishers | None = None) -> None:
        self.config = config
        self.run_id = uuid.uuid4().hex[:8]
        """Names this run in the locks it holds: two runs by one actor (one user@host, one Jenkins
        job) are still two holders."""
        self.progress = progress or _quiet
        self.now, self.clock, self.sleep, self.poll_interval = now, clock, sleep, poll_interval
        self.stop = stop or Stop(clock=clock)
        """Set by a signal (the CLI's handlers, the page's shutdown): every write and wait checks it."""
        self._clients: dict[tuple[str, str], KubeClient] = {}
        self._control_planes: dict[str, ControlPlane | DeployerError] = {}
        """GKE clusters found by name: one GKE API call per cluster per run, whichever client asks."""
        self._lock = threading.Lock()
        self._connecting: dict[str, threading.Lock] = {}
        """One per cluster: its clients connect one at a time (they share one GKE lookup), while
        other clusters connect meanwhile (a GKE token and lookup must not hold up on-prem)."""
        self.publishers = publishers
        """Where this run's events go when the App was given some (the CLI's); closed with it."""
        self.events = publishers.events if publishers is not None else Events()
        """What the stories publish to (``deployer.pipeline.news``): webhooks and metrics."""

    # --- clients: one per cluster and credential, for the whole run ----------------------------

    def client(self, cluster: Cluster) -> KubeClient:
        """The cluster's client with its deploy credential (what Jenkins deploys as)."""
        return self._client(cluster, admin=False)

    def admin_client(self, cluster: Cluster) -> KubeClient:
        """The cluster's client with its admin credential (the deploy credential when it declares
        none): cluster sync, verify's impersonation, deleting an unmanaged copy."""
        return self._client(cluster, admin=True)

    def _client(self, cluster: Cluster, *, admin: bool) -> KubeClient:
        key = (cluster.name, credential_of(cluster, admin))
        with self._lock:
            if key in self._clients:
                return self._clients[key]
            connecting = self._connecting.setdefault(cluster.name, threading.Lock())
        with connecting:
            with self._lock:
                if key in self._clients:
                    return self._clients[key]
            client = connect(cluster, self.config, admin=admin, locate=self._control_plane,
                             sleep=self.sleep, on_retry=self._progress_of(cluster.name))
            with self._lock:
                self._clients[key] = client
            return client

    def _control_plane(self, cluster: Cluster, config: Config, bearer: BearerSource) -> ControlPlane:
        # Called by connect() under the cluster's connecting lock, so two clients never look one
        # cluster up twice; each cluster has its own entry, so other clusters never race it. A
        # refusal is kept too: a later client of the same cluster in this run gets the same error
        # without asking Google again.
        if cluster.name not in self._control_planes:
            try:
                self._control_planes[cluster.name] = look_up_control_plane(cluster, config, bearer)
            except DeployerError as exc:
                self._control_planes[cluster.name] = exc
        found = self._control_planes[cluster.name]
        if isinstance(found, DeployerError):
            raise found
        return found

    def _progress_of(self, cluster: str) -> Callable[[str], None]:
        def say(message: str) -> None:
            self.progress(cluster, message)

        return say

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
        if self.publishers is not None and self.publishers.per_run:
            self.publishers.finish()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- images and Terraform --------------------------------------------------------------------

    def image_commit(self, service: Service, commit: str | None, environment: str) -> str:
        """The commit the service's image is built from: ``commit``, else $DEPLOYER_COMMIT, else the
        last git commit of its build context (for a service that builds nothing, of the manifests
        ``environment`` deploys: its source's folder, chart or packaged chart)."""
        from deployer.images.publish import source_commit

        folder = self.config.service_files[service.name].parent
        build = service.primary_build
        where = build.context if build else service.source_of(environment).paths()[0][1]
        return commit or os.environ.get("DEPLOYER_COMMIT") or source_commit((folder / where).resolve())

    def publish(self, service: Service, clusters: list[Cluster], *, commit: str, builder: str, dry_run: bool,
                promotion: Promotion | None = None) -> dict[str, dict[str, Published]]:
        """Per image name (``image`` first, as "" -- the one release records name -- then each of
        ``images``), per cluster, the image to pin, present in that cluster's registry: a build of
        ``commit`` (tagged with it; built once, unless a target registry has it), a prebuilt image
        resolved to its digest once and copied by digest, or with ``promotion`` the digest the source
        environment ran for each of them (``Promotion.images``), copied by digest: never rebuilt,
        and a prebuilt tag is never looked up again (it may have moved since the source ran it)."""
        from deployer.config.models import BuiltImage
        from deployer.images import backends
        from deployer.images.publish import (
            copy_digest,
            copy_prebuilt,
            image_tag,
            promote_build,
            publish,
            publish_prebuilt,
        )

        def progress(message: str) -> None:
            self.progress("", message)

        registry = backends.Registry()
        service_dir = self.config.service_files[service.name].parent
        primary = service.primary_build
        builds = {"": service.image} if service.image is not None else {}
        builds |= {name: s.build for name, s in service.images.items() if isinstance(s, BuiltImage)}
        found: dict[str, dict[str, Published]] = {}
        for name, build in builds.items():
            if promotion is not None and name in promotion.images:
                ran = promotion.images[name]
                found[name] = copy_digest(build.name, clusters, ran, ran.rpartition("@")[2],
                                          image_tag(commit or ran.rpartition("@")[2].replace(":", "-")),
                                          registry=registry, progress=progress, dry_run=dry_run)
            elif build is primary and promotion is not None:
                found[name] = copy_digest(build.name, clusters, promotion.image, promotion.digest,
                                          image_tag(commit or promotion.digest.replace(":", "-")),
                                          registry=registry, progress=progress, dry_run=dry_run)
            elif promotion is not None:
                # Never rebuilt on promotion: the source cluster's build of this commit, by digest.
                found[name] = promote_build(build.name, promotion.image, image_tag(commit), clusters,
                                            registry=registry, progress=progress, dry_run=dry_run)
            else:
                found[name] = publish(build, service_dir, clusters, image_tag(commit),
                                      backend=lambda: backends.backend(builder), registry=registry,
                                      progress=progress, dry_run=dry_run)
        for name, source in service.images.items():
            if isinstance(source, BuiltImage):
                continue
            if promotion is not None and name in promotion.images:  # what the source ran, not the tag now
                found[name] = copy_prebuilt(source.prebuilt, promotion.images[name], clusters, registry=registry,
                                            progress=progress, dry_run=dry_run)
            else:
                found[name] = publish_prebuilt(source.prebuilt, clusters, registry=registry, progress=progress,
                                               dry_run=dry_run)
        return {name: found[name] for name in ["", *service.images] if name in found}

    def provision(self, cluster: Cluster, *, dry_run: bool) -> ProvisionResult:
        """Terraform for one GKE cluster's deployer account (a stand-in's endpoints when the
        cluster file names one)."""
        from deployer.infra.provision import provision
        from deployer.infra.workspace import GoogleEndpoints

        assert cluster.gke is not None
        endpoint = cluster.gke.google_api_endpoint
        return provision(cluster, self.config, dry_run=dry_run, progress=lambda message: self.progress("", message),
                         endpoints=GoogleEndpoints.standin(endpoint) if endpoint else None)


class Publishers:
    """Where a run's events go: the webhooks of deployer.yaml and the service files
    (``deployer.notify``), and the metrics (``deployer.observe``), pushed to ``pushgateway`` (the
    CLI's --pushgateway) at the end. ``finish`` flushes the webhooks for at most ``flush_seconds``
    and pushes; neither ever fails the run, each problem is one ``warn``.

    ``per_run`` (the CLI's): the App's close finishes them. A long-running process (the page) makes
    one with ``per_run=False``, gives it to every job's App, and calls ``finish`` once at shutdown."""

    def __init__(self, config: Config, warn: Callable[[str], None], *, pushgateway: str | None = None,
                 flush_seconds: float = 10.0, notifier: Notifier | None = None,
                 metrics: DeployMetrics | None = None, per_run: bool = True) -> None:
        from deployer.notify.routing import routes

        self.notifier = notifier
        if self.notifier is None and routes(config):
            from deployer.notify.sender import Notifier  # only where some file declares a webhook

            self.notifier = Notifier(config, warn=warn)
        # Counted only where someone reads them: the page's /metrics passes its own, the CLI's
        # --pushgateway pushes these; otherwise prometheus_client is not even imported (issue 13).
        self.metrics = metrics
        if self.metrics is None and pushgateway:
            from deployer.observe.metrics import DeployMetrics

            self.metrics = DeployMetrics()
        self.pushgateway, self.flush_seconds, self.warn, self.per_run = pushgateway, flush_seconds, warn, per_run
        self.services: set[str] = set()
        """The services this run published events of: each one's metrics group is pushed."""
        hearers: list[Subscriber] = [hearer for hearer in (self.notifier, self.metrics) if hearer is not None]
        hearers.append(lambda event: self.services.add(event.service))
        self.events = Events(hearers, warn=warn)

    def finish(self) -> None:
        if self.notifier is not None and self.notifier.configured:
            self.notifier.flush(self.flush_seconds)
        if self.pushgateway and self.metrics is not None:
            from deployer.observe.pushing import push  # prometheus_client: only when pushing

            for service in sorted(self.services):
                push(self.metrics, self.pushgateway, service, self.warn)
