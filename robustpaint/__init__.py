"""RobustPaint: image synthesis with a single robust classifier."""

__version__ = "0.1.0"
