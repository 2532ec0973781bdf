"""others layers."""
SPECS = []
