"""Models: local tokenizer, one factory for all roles (solver, PRM, generator), solver SFT and
sampling, PRM training and scoring."""
