"""The policy: which alerts halt (or throttle) which jobs, with what reason code and force.

`model` holds the rules as the guard reads them, `reading` validates a policy file into them (every problem named
by its rule), and `thresholds` checks the numbers a rule gives (durations, counts, the fleet signal's threshold,
a throttle's settings)."""

from __future__ import annotations

from rollout_guard.policy.model import (
    CANCEL,
    THROTTLE,
    Abort,
    Action,
    Casualties,
    Match,
    Policy,
    PolicyError,
    Rule,
    Throttle,
)
from rollout_guard.policy.reading import load, load_file, read_document
from rollout_guard.policy.thresholds import INTEGER_MAX, throttle_settings

__all__ = ["CANCEL", "INTEGER_MAX", "THROTTLE", "Abort", "Action", "Casualties", "Match", "Policy", "PolicyError",
           "Rule", "Throttle", "load", "load_file", "read_document", "throttle_settings"]
