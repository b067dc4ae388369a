"""The published contract: domain events, the CloudEvents envelope, topic names."""
