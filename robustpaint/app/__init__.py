"""The PySide6 desktop app: a thin layer over `robustpaint.core`, talking to it through plain requests."""
