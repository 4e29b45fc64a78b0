"""Inputs of the monitoring rules read from stored decisions."""

from .decision_samples import DecisionSample, decision_sample

__all__ = ["DecisionSample", "decision_sample"]
