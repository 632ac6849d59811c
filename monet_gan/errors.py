"""The one exception type for mistakes a user can fix, and a weights loader that raises it."""


class UserError(ValueError):
    """Bad input from the user: a missing file, a corrupt image, a wrong setting.

    The command line prints the message alone and exits non-zero; no traceback is shown,
    because the message, not the stack, tells the user what to fix. It subclasses ValueError
    so library callers can catch it the usual way.
    """


def load_weights(model, path, failure):
    """`model.load_weights(path)`; any failure becomes one UserError "<failure> (<error>)".

    h5py and Keras raise many kinds of errors for a file that holds other weights, none of which
    a user can act on without being told which file and which model did not match.
    """
    try:
        model.load_weights(path)
    except Exception as error:
        raise UserError(f"{failure} ({type(error).__name__}: {error})") from None
