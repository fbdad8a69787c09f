"""The one exception type a user is meant to see."""


class InpaintError(ValueError):
    """Bad input a user can act on: a wrong shape, an unreadable file, a corrupt checkpoint.

    The command line prints its message on one line and exits with status 2.
    """
