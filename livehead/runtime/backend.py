"""The backend contract: what a runner does, what a probe is asked, what ``auto`` reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

if TYPE_CHECKING:
    import torch

    from livehead.errors import LiveHeadError

DEFAULT_ENGINES_DIR = Path("engines")
FP16_ON_CPU = "fp16 needs a CUDA GPU (no fp16 speed-up on CPU); use --precision fp32 or --device cuda."


class Runner(Protocol):
    """Runs named graphs. Constructors take keyword arguments only."""

    backend: str  # a registered backend name, e.g. "torch" | "inductor" | "onnxruntime" | "tensorrt"
    device: str  # "cpu" | "cuda"
    precision: str  # "fp32" | "fp16"

    def run(self, graph: str, inputs: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
        """Run graph ``graph`` on ``inputs`` ({name: torch.Tensor}); returns {name: float32 tensor}."""
        ...

    def describe(self) -> dict[str, str]:
        """What is actually running: backend, device, precision and per-backend details."""
        ...

    def close(self) -> None:
        """Release device memory and sessions; idempotent."""
        ...


class CapturableRunner(Runner, Protocol):
    """Optional: a runner whose graphs are plain torch code on its device (backends torch, inductor).

    ``call`` is ``run`` without a CUDA graph of its own and without host synchronisation, on float32
    inputs already on ``device``; the neural engines' GPU frame path captures several graphs and
    the work between them as one CUDA graph through it.
    """

    def call(self, graph: str, inputs: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
        ...


RunnerFactory = Callable[..., Runner]


@dataclass(frozen=True)
class BackendRequest:
    """What the caller needs, handed to every probe. ``device`` is resolved ("cpu" | "cuda")."""

    device: str
    precision: str = "fp32"
    engine: str | None = None
    engines_dir: Path = DEFAULT_ENGINES_DIR
    checkpoint_sha256: str | None = None
    graph_names: tuple[str, ...] | None = None
    auto: bool = False  # probing for ``auto``: a backend may ask for more (e.g. pre-exported graphs)


Probe = Callable[[BackendRequest], "LiveHeadError | None"]


def always_usable(_request: BackendRequest) -> None:
    """A probe for backends with nothing to check (torch on the CPU)."""
    return None


@dataclass(frozen=True)
class Backend:
    """A registered backend.

    ``probe(request)`` returns None when the backend can serve ``request``, else the reason as an
    error whose message names the fix (raised as it is when the backend was asked for by name).
    ``auto_devices`` are the devices on which ``auto`` may pick it; lower ``priority`` is tried
    first. ``why`` says what the backend gives when ``auto`` picks it.
    """

    name: str
    factory: RunnerFactory
    probe: Probe = always_usable
    auto_devices: tuple[str, ...] = ()
    priority: int = 100
    why: str = ""


@dataclass(frozen=True)
class BackendChoice:
    """The backend and device that will run, and why (including why earlier candidates were passed over)."""
    backend: str
    device: str
    reason: str  # why this one, and why the ones tried before it were not taken

    def __str__(self) -> str:
        return f"{self.backend} on {self.device} ({self.reason})"


