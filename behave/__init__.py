"""behave: compare neural event-sequence models with gradient-boosted trees on the same data."""

__version__ = "0.1.0"
