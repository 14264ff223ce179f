"""Test-free monitors of generalization: the events they are scored against and the causal alarms
that read them. Nothing here reads a test split except `events`, which only scores."""
