"""The error every decoder raises for a malformed message."""


class WireError(ValueError):
    """A message field that cannot be decoded.

    Attributes:
        field: The offending field's path in the request, e.g. ``"sampler_pubs[0].circuit.qpy"``.
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message
