"""`pageviews bench`: the embedded engine's and the distributed runtime's figures."""
