"""Datasets and metrics: the real scenes with ground truth, every metric variant, two baselines.

A reference chapter: it reproduces no paper table, so ``PAPER_TARGETS`` is empty. Its baselines
(FCLS with the true endmembers; VCA + FCLS) are the yardstick the other chapters compare with.
"""

from companion.chapters import Param, device_param, seed_param

TITLE = "Datasets and metrics"
ORDER = 0

DATASETS = ("samson", "jasper", "urban")
MATCHING = ("hungarian", "permutation", "greedy_euclidean")

PARAMETERS = {
    "device": device_param("torch device for FCLS: 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    "seed": seed_param("seed of the first VCA run; run k uses seed + k"),
    "datasets": Param(list, "scenes to show and score", item=str, choices=DATASETS, nonempty=True),
    "vca_runs": Param(int, "number of VCA runs (different seeds) averaged in the VCA+FCLS row",
                      minimum=1),
    "match": Param(str, "how estimated endmembers are paired with the true ones", choices=MATCHING),
}

PRESETS = {
    "smoke": {
        "device": "cpu",
        "seed": 0,
        "datasets": ["samson"],
        "vca_runs": 1,
        "match": "hungarian",
    },
    "book": {
        "device": "auto",
        "seed": 0,
        "datasets": list(DATASETS),
        "vca_runs": 10,
        "match": "hungarian",
    },
    # No paper protocol to follow: "paper" only averages more VCA runs.
    "paper": {
        "device": "auto",
        "seed": 0,
        "datasets": list(DATASETS),
        "vca_runs": 100,
        "match": "hungarian",
    },
}

PAPER_TARGETS = []
