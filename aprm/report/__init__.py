"""Reports from results.json: report.md, a self-contained report.html, and the headline table."""

from aprm.report.headline import HeadlineOptions, choose_baseline, headline_table, markdown_table
from aprm.report.stats import PairedDifference, SeedSummary, paired_difference, seed_summary
from aprm.report.writer import write_report

__all__ = [
    "HeadlineOptions", "choose_baseline", "headline_table", "markdown_table",
    "PairedDifference", "SeedSummary", "paired_difference", "seed_summary",
    "write_report",
]
