"""CDK stacks and the reusable RolloutGuard construct."""
