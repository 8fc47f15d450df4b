"""pageviews: real-time page-view analytics in event time."""

__version__ = "0.1.0"
