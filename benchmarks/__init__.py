"""Benchmarks of the kortyx-langgraph savers against LangGraph's own, measured in one run.

Run everything (8 to 9.5 minutes on 2 cores) or a smoke run (under a minute) from the
repository root::

    .venv/bin/python -m benchmarks.run           # full run, writes benchmarks/results/latest.json
    .venv/bin/python -m benchmarks.run --quick   # smoke run, writes benchmarks/results/quick.json

The harness starts its own Redis servers (standalone and a 3-master cluster) on free loopback
ports and stops them at the end. Timings are reported as medians and p95, and as ratios to
baselines measured in the same run; nothing here asserts a speed.

``KORTYX_BENCH_NO_HIREDIS=1`` runs without hiredis's parser (:mod:`benchmarks.redis_parser`).
"""

from benchmarks.redis_parser import hide_hiredis_if_asked

hide_hiredis_if_asked()
