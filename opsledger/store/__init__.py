"""The event store: store URLs, the SQL layer and its one home for dialect differences, the
chained recorders and chain walk, tenant keys and the cipher mapper, the transcoder.

Imports nothing of the project but :mod:`opsledger.domain`."""
