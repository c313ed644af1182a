"""``livehead eval``: animation quality on real clips and photos, as the papers measure it.

``runner.run_eval`` orchestrates the protocols, one module each: ``self_reenactment``,
``cross_identity`` and ``stability``. They share ``methods`` (the engines and the still
baseline), ``media`` (finding clips and photos, decoding frames, each clip's truth),
``measure`` (the evaluation tracker), ``drive`` (one engine driven by one clip), ``scoring``
(per-run numbers and means) and ``types`` (settings, progress, result). ``metrics`` holds the
pure metric functions, ``identity`` the optional dlib face embeddings, ``report`` the JSON and
HTML files; the command is ``livehead.commands.eval``. Importing this package loads none of them.
"""

from __future__ import annotations

__all__ = ["cross_identity", "drive", "identity", "measure", "media", "methods", "metrics", "report", "runner",
           "scoring", "self_reenactment", "stability", "types"]
