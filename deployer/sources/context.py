"""What every manifest source renders for: one service environment on one cluster, with an image."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deployer.config.models import Cluster, Service
from deployer.sources.placement import Placement


@dataclass(frozen=True)
class SourceContext:
    service: Service
    environment: str
    cluster: Cluster
    image: str
    """The image reference to deploy (pinned by digest, or a placeholder in the early check)."""
    base: Path
    """The service file's folder: source paths are relative to it."""
    images: Mapping[str, str] = field(default_factory=dict)
    """The service's named images (``images:``), each pinned (or a placeholder), by name."""

    @property
    def placement(self) -> Placement:
        return Placement.of(self.service, self.environment)

    def shown(self, path: Path) -> str:
        """``path`` as the user wrote it relative to the service file, for messages."""
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)
