"""Evaluation metrics over plain data: best-of-n selection, first-error F1, results.json."""

from aprm.eval.aggregate import AGGREGATIONS, aggregate, is_scorable, solution_score
from aprm.eval.best_of_n import (
    evaluate_selection,
    n_values,
    pick_best,
    pick_majority,
    pick_weighted,
)
from aprm.eval.first_error import evaluate_first_error, first_error_f1, predict_first_error
from aprm.eval.results import (
    SCHEMA_VERSION,
    ResultsSchemaError,
    build_results,
    build_run,
    dumps_results,
    load_results,
    validate_results,
    write_results,
)
from aprm.eval.samples import ProblemSamples, Sample, answer_key, load_problem_samples

__all__ = [
    "AGGREGATIONS", "aggregate", "is_scorable", "solution_score",
    "evaluate_selection", "n_values", "pick_best", "pick_majority", "pick_weighted",
    "evaluate_first_error", "first_error_f1", "predict_first_error",
    "SCHEMA_VERSION", "ResultsSchemaError", "build_results", "build_run", "dumps_results",
    "load_results", "validate_results", "write_results",
    "ProblemSamples", "Sample", "answer_key", "load_problem_samples",
]
