"""The operator's command line for rollout-guard: invoke, cancel, events, policy check and the drill."""
