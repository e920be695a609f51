"""What touches AWS: each port's adapter (IoT, DynamoDB, SQS, CloudWatch, EventBridge, SSM) and the clients.
Nothing in the alert path or the fleet signal imports from here; `bootstrap` wires them in."""
