"""Running the page's buttons through Jenkins: a client for the few calls of Jenkins' remote API
the executor makes (client.py), the pure reading of its answers (responses.py), and the executor
the page's workers and ``deployer jenkins trigger`` call (executor.py). docs/jenkins.md.

This package holds a Jenkins API token and never a cluster credential: it imports neither
``deployer.kube`` nor ``deployer.credentials`` (an import contract in pyproject.toml).
"""
