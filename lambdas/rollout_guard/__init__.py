"""rollout-guard: halts AWS IoT firmware rollouts when an alert fires."""
