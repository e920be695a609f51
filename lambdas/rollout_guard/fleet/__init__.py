"""The fleet signal: the fleet's events, who counts as a casualty, dark things, the state port, the detector."""
