"""`make bench`: every benchmark, printed as a table and saved under bench/results/."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from bench import contracts, kyc, ledger, ledger_sqlite_floor, ledger_verify, me_rps

RESULTS = Path(__file__).parent / "results"


def run_me_rps() -> None:
    results = me_rps.main()
    bare, app = results
    print(f"{'endpoint':<40} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in results:
        print(f"{r.name:<40} {r.rps:>8} {r.p50_ms:>8} {r.p99_ms:>8} {r.errors:>7}")
    ratio = app.rps / bare.rps if bare.rps else 0.0
    print(f"ratio mindlinks/bare: {ratio:.2f}")
    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.platform(),
        "me_rps": [r.as_dict() for r in results],
        "ratio": round(ratio, 3),
    }
    (RESULTS / "me_rps.json").write_text(json.dumps(record, indent=2))


def run_ledger() -> None:
    # prints its tables and writes bench/results/ledger.json itself
    ledger.main([])


def run_ledger_sqlite_floor() -> None:
    single = ledger_sqlite_floor.main(1)
    batches = ledger_sqlite_floor.main(100)
    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.platform(),
        "n": ledger_sqlite_floor.N,
        "microseconds_per_entry": {"single": single, "batch_of_100": batches},
    }
    (RESULTS / "ledger_sqlite_floor.json").write_text(json.dumps(record, indent=2))


def run_kyc() -> None:
    # prints its tables and writes bench/results/kyc.json itself
    kyc.main()


def run_ledger_verify() -> None:
    # prints its table and writes bench/results/ledger_verify.json itself
    ledger_verify.main()


def run_contracts() -> None:
    # PostgreSQL, 50 lifecycles and 16 signers; prints its tables and writes
    # bench/results/contracts.json itself
    contracts.main([])


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    run_me_rps()
    run_ledger()
    run_ledger_sqlite_floor()
    run_ledger_verify()
    run_kyc()
    run_contracts()


if __name__ == "__main__":
    main()
