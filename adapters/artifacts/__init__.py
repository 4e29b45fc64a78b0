"""Artifact stores."""

from .local_directory import ArtifactRejected, LocalArtifactStore, content_version

__all__ = ["ArtifactRejected", "LocalArtifactStore", "content_version"]
