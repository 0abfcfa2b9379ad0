"""Solver samples through any backend, parsed by the one solver parser.

The prompt is `format_prompt(problem)` and the seeding key is `problem.id`, for every backend, so
the `hf` backend gives exactly what `aprm.models.sampling.sample_solutions` gives, and a
server's samples are parsed by the very same `parse_solution_text`.
"""

from __future__ import annotations

from typing import Sequence

from aprm.backends.base import Completion, GenerationBackend
from aprm.models.sampling import SampledSolution
from aprm.models.text_format import format_prompt, parse_solution_text
from aprm.schema import Problem


def to_sampled_solution(completion: Completion) -> SampledSolution:
    """Parse a completion; num_tokens is 0 where the backend does not report it."""
    parsed = parse_solution_text(completion.text)
    return SampledSolution(steps=parsed.steps, final_answer=parsed.final_answer,
                           truncated=completion.truncated, text=completion.text,
                           num_tokens=completion.num_tokens or 0)


def sample_solutions_with(backend: GenerationBackend, problems: Sequence[Problem], n: int,
                          temperature: float, top_p: float, max_new_tokens: int,
                          seed: int) -> list[list[SampledSolution]]:
    """n parsed samples per problem (result[i][k] is sample k of problems[i])."""
    prompts = [format_prompt(p) for p in problems]
    completions = backend.generate(prompts, n=n, temperature=temperature, top_p=top_p,
                                   max_new_tokens=max_new_tokens, seed=seed,
                                   keys=[p.id for p in problems])
    return [[to_sampled_solution(c) for c in row] for row in completions]
