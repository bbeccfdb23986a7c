"""LGSP Hub: the provincial data-sharing integration bus."""

__version__ = "0.1.0"
