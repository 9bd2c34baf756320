"""What deployer shows about how deploys go: Prometheus metrics (``metrics``, ``pushing``), the
four DORA figures (``dora``) and the SVG charts that draw them (``charts``)."""
