"""numpy, imported where an array is asked for: the package itself needs
only the standard library."""


def numpy(what):
    """The numpy module, or ModuleNotFoundError saying how to get it."""
    try:
        import numpy
    except ImportError:
        raise ModuleNotFoundError(
            f"{what} needs numpy: pip install numpy (or install shmlib with its "
            "extra, shmlib[numpy])", name="numpy") from None
    return numpy
