"""Deployment: approved models to a SageMaker real-time endpoint, idle-endpoint cleanup."""
