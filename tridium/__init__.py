"""Tridium's command line and the local launcher of its embedded services."""
