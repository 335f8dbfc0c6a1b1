"""Aurora FAQ core: FAQ loading, encoders, index build/load, search, calibration, evaluation.

Nothing in this package knows about HTTP; `app/` translates requests into calls on `Engine`.
"""

__version__ = "0.1.0"
