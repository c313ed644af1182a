"""Where output frames go: virtual camera, preview window, recorder, null."""

from livehead.sinks.outputs import *  # noqa: F401,F403  (split by sink in the next step)
from livehead.sinks.outputs import __all__  # noqa: F401
