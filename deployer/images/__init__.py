"""Building, tagging and pushing service images, and pinning them by digest.

An image is built once per commit and pushed to the registry of every target cluster; the
manifests then reference it by digest, never by its mutable tag. The tag is the commit it was built
from, so a later environment finds the build instead of making another; a promotion copies the
digest the earlier environment ran, by digest, without building.
"""
