"""aprm: adversarially trained process reward models (pure library, no Prefect/Hydra imports)."""

__version__ = "0.1.0"
