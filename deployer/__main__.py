"""`python -m deployer` runs the CLI (as the `deployer` console script does)."""

from deployer.cli.entry import entry

entry()
