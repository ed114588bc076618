"""Analytics: one function per question (SPEC §5-§10), computed in SQL over the store, or
from the hourly rollups (`hourly`) where they give the same numbers.

Every function takes a connection and `Filters` and returns JSON-ready values named as in
SPEC §12; bad input raises ValueError naming the parameter.
"""

from dwell.analytics.filters import Filters
from dwell.analytics.groups import demographics, dwell_groups, known_attributes, per_camera
from dwell.analytics.kpis import kpis
from dwell.analytics.repeat import repeat_visitors
from dwell.analytics.report import report
from dwell.analytics.timeseries import occupancy, timeseries

__all__ = [
    "Filters",
    "demographics",
    "dwell_groups",
    "known_attributes",
    "kpis",
    "occupancy",
    "per_camera",
    "repeat_visitors",
    "report",
    "timeseries",
]
