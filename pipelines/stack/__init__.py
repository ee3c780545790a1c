"""The project on AWS as CloudFormation: the template (built by one module per concern,
assembled in `template.py`), the change-set driver (`cloudformation.py`), the commands
`stack template|plan|deploy|destroy` (`deploy.py`, `commands.py`) and disaster recovery
(`dr.py`, `restore.py`). Building a template needs no credentials and no network."""
