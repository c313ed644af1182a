"""``livehead eval``: animation quality on real clips and photos, as the papers measure it.

``metrics`` holds the pure metric functions, ``identity`` the optional dlib face embeddings,
``runner`` the self-reenactment / cross-identity / stability runs, ``report`` the JSON and HTML
files, and ``cli`` the command. Importing this package loads none of them.
"""

from __future__ import annotations

__all__ = ["cli", "identity", "metrics", "report", "runner"]
