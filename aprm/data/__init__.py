"""Data prep: the synthetic domain, loaders for the real data files, and the split builder.

Entry points used by the flow: `build_splits(data_cfg, seed) -> Splits` and
`load_processbench_split(paths_cfg, split_name, on_error)`.
"""

from aprm.data.errors import DataError, SkipLog
from aprm.data.gsm8k import load_gsm8k, parse_annotations
from aprm.data.math500 import load_math500
from aprm.data.paths import DEFAULT_LAYOUT, default_data_root, resolve_data_path
from aprm.data.processbench import PROCESSBENCH_SPLITS, load_processbench, load_processbench_split
from aprm.data.splits import REAL_SUITES, SOURCES, Splits, build_splits
from aprm.data.svamp import load_svamp
from aprm.data.families import FAMILIES
from aprm.data.synthetic import SPLIT_BUCKETS, generate_split

__all__ = [
    "DEFAULT_LAYOUT",
    "DataError",
    "FAMILIES",
    "PROCESSBENCH_SPLITS",
    "REAL_SUITES",
    "SOURCES",
    "SPLIT_BUCKETS",
    "SkipLog",
    "Splits",
    "build_splits",
    "default_data_root",
    "generate_split",
    "load_gsm8k",
    "load_math500",
    "load_processbench",
    "load_processbench_split",
    "load_svamp",
    "parse_annotations",
    "resolve_data_path",
]
