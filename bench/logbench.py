"""The CPU one log line costs, with 21 operator secrets known: a delivery's line that holds
none, and one whose error quotes a secret (scrubbed from its values, then rendered again).

    python bench/logbench.py [--logs PATH]

`--logs`: another release's receiver/kernel/observability/logs.py (`git show
<commit>:receiver/kernel/observability/logs.py > old.py`), for a paired figure. Prints the
fastest of seven rounds of 20,000 lines each, in microseconds of process CPU time a line.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import time
import timeit
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
SECRETS = [f"secret-value-{i:04d}-abcdefghijkl" for i in range(20)]
SECRETS.append("https://hooks.slack.invalid/services/T0001/B0002/abcdefghijklmnopqrstuvwx")
LINES, ROUNDS = 20_000, 7


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("logs_under_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logs", type=Path, default=ROOT / "receiver/kernel/observability/logs.py")
    logs = _module(parser.parse_args().logs)
    logs.configure("info", SECRETS)
    import structlog

    # The relay's processors, writing to memory instead of stdout.
    processors = structlog.get_config()["processors"]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.WriteLoggerFactory(io.StringIO()),
        cache_logger_on_first_use=True,
    )
    log = logs.get_logger("bench")

    def clean() -> None:
        log.info(
            "delivery.succeeded",
            delivery_id="dlv_0123456789",
            event_id="evt_0123456789",
            task_id="tsk_0123456789",
            upstream_task_id="abc-123",
            downstream="erp",
            attempt=1,
            status=200,
            error=None,
            seconds=0.0123,
            next_attempt_in=None,
            lease_kept=True,
        )

    def quoting() -> None:
        error = f"HTTP 503: {SECRETS[7]}"
        log.warning("delivery.retry", delivery_id="dlv_0", downstream="erp", error=error)

    figures = {}
    for line in (clean, quoting):
        spent = timeit.repeat(line, number=LINES, repeat=ROUNDS, timer=time.process_time)
        figures[f"{line.__name__}_us"] = round(min(spent) / LINES * 1e6, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
