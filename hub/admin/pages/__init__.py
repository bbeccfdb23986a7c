"""The console's pages, one module per screen; each has its own ``router``."""
