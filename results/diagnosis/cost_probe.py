"""Cost probe for the declared diagnosis experiments (book/diagnoses.md): times the compute of
one small (smoke-scale) configuration per chapter on this machine, one torch thread, and prints
its wall seconds and the chapter's relative cost units (``experiments.<chapter>.cost``), so that
a declared experiment's cost is extrapolated as ``units x seconds per unit``. A rough estimate:
the cost functions rank configurations, they are not times.

    nice -n 5 python results/diagnosis/cost_probe.py admm_unfolding:fig19 \
        stability:runs:reinit_exp4_wd0.0001 ...
"""

import json
import sys
import time

import torch

from companion import pipeline
from companion.chapters import resolve_parameters

torch.set_num_threads(1)
out = {}
for spec in sys.argv[1:]:
    chapter, study, *chosen = spec.split(":")
    P = resolve_parameters(chapter, "smoke")
    definition = pipeline.plan(chapter, P)[study]
    key = chosen[0] if chosen else next(iter(definition.configs))
    config = definition.configs[key]
    definition.load_data()
    module = pipeline.experiments_module(chapter)
    start = time.perf_counter()
    definition.compute(config)
    seconds = time.perf_counter() - start
    units = module.cost(config)
    out[spec] = {"key": key, "seconds": round(seconds, 2), "units": units,
                 "seconds_per_unit": seconds / units}
    print(spec, out[spec], flush=True)
print(json.dumps(out))
