"""AWS side: upsert, start, describe, triggers, notifications, deployment."""
