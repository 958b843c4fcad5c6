"""The project's own error types: anything a user can cause is one of these, shown as one line."""


class RobustPaintError(Exception):
    """A problem the user can fix (bad file, bad value, missing model); the CLI prints it as one line."""


class ImageError(RobustPaintError):
    """An image or mask file that cannot be used."""


class ModelError(RobustPaintError):
    """A model or checkpoint that is missing, damaged or of the wrong kind."""


class UntrustedPickleError(ModelError):
    """A checkpoint that can only be read by running arbitrary pickled code."""


class DeviceError(RobustPaintError):
    """A device this machine does not have (a GPU asked for where there is none)."""
