"""The conductor: threads that connect the stages (``pipeline``), the thread-free frame path (``processor``) and run statistics (``stats``)."""

from livehead.pipeline.pipeline import Pipeline
from livehead.pipeline.processor import FrameProcessor, ProcessResult

__all__ = ["FrameProcessor", "Pipeline", "ProcessResult"]
