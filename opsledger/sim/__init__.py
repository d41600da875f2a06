"""The simulator of a Pumuki month and its episodes (the demo's input)."""
