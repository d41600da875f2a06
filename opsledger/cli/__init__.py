"""The ``opsledger`` command, one module per command group; it uses only the facade and the
public types of :mod:`opsledger`."""
