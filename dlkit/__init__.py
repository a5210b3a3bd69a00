"""dlkit: from "I want to do deep learning" to a machine that works and is fast."""

__version__ = "0.1.0"
