"""Building, tagging and pushing service images, and pinning them by digest.

An image is built once per deploy and pushed to the registry of every target cluster; the
manifests then reference it by digest, never by its mutable tag. The tag says where it came from:
``<commit>-<environment>``.
"""
