"""Outside systems a gate between waves asks for evidence (today: Prometheus)."""
