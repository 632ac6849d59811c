"""The one exception type for mistakes a user can fix."""


class UserError(ValueError):
    """Bad input from the user: a missing file, a corrupt image, a wrong setting.

    The command line prints the message alone and exits non-zero; no traceback is shown,
    because the message, not the stack, tells the user what to fix. It subclasses ValueError
    so library callers can catch it the usual way.
    """
