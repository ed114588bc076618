"""dwell: camera-event analytics (dwell time, occupancy, visitors, data quality)."""

__version__ = "0.1.0"
