"""The alert path: alerts parsed, the policy's decision, the guard that halts, the pre-start gate, and the
ports they use (the jobs of IoT, the exactly-once claims)."""
