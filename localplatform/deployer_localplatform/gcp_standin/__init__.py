"""A small, faithful stand-in for the few Google calls on deployer's GKE credential path.

It is the project's only fake, for the one thing that cannot exist on the local platform: Google.
Everything else on the path is real and runs unchanged against it: a service-account key file,
google-auth (or the google Terraform provider's Go oauth2) turning it into a bearer token, the
kube-apiserver asking this server's TokenReview webhook who that token is, and RBAC deciding
what that email may do.

Run it as a process::

    python -m deployer_localplatform.gcp_standin --state-dir DIR [--host 127.0.0.1] [--port 0]
        [--port-file FILE] [--project ID ...] [--token-ttl SECONDS]

or in process with :class:`GcpStandIn` (``start()`` returns the base URL, ``stop()`` ends it).
Point clients at it with:

- key files: ``token_uri`` is already ``BASE/token`` in every key the stand-in creates;
- the google Terraform provider: ``iam_custom_endpoint`` and ``resource_manager_custom_endpoint``
  set to ``BASE/v1/`` (the provider then calls ``BASE/v1/v1/...``, which is served);
- kube-apiserver: ``--authentication-token-webhook-config-file`` written by
  :func:`write_webhook_kubeconfig` and ``--authentication-token-webhook-version=v1``.

- deployer's GKE lookup and impersonation: ``gke.googleApiEndpoint`` set to ``BASE`` (GKE's
  clusters.get and IAM Credentials' generateAccessToken are served under ``BASE/v1/``).

Where it knowingly differs from Google: it checks authentication and scopes everywhere, but IAM
permissions only for GKE's clusters.get and generateAccessToken (project-level bindings, no
conditions, no service-account-level policies; see permissions); it issues access tokens only
(no ID tokens, no domain-wide delegation, no delegation chains); keys are
TYPE_GOOGLE_CREDENTIALS_FILE only; a cluster's ``endpoint`` carries a port.
A key file's ``token_uri`` names the port, so restart the stand-in on the same ``--port`` to keep
issued key files usable.
"""

from deployer_localplatform.gcp_standin.client import AdminClient, write_webhook_kubeconfig
from deployer_localplatform.gcp_standin.server import GcpStandIn

__all__ = ["AdminClient", "GcpStandIn", "write_webhook_kubeconfig"]
