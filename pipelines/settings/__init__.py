"""The `pipeline.toml` sections that belong to one feature each (`[deployment]`, `[drift]`,
`[orchestrator]`, `[stack]` and `[dr]`, `[triggers]` and `[notifications]`), as pydantic
models that `pipelines.config.load_config` validates once.

They live here, below every feature package, rather than inside those packages: the
configuration imports them, and the features import the configuration, so keeping them in the
features made each feature package and the configuration import each other.
"""
