"""Local serving: the approved model behind SageMaker's inference HTTP contract."""
