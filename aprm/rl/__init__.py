"""The solver's RL on a reward model: GRPO (aprm.game.generator_rl.run_grpo) of a copy of the SFT
solver, rewarded by a method's PRM or by the oracle (`rewards`), with curves of what the PRM
believes against what the oracle knows (`curves`)."""
