"""Peer for `cargo run --release -p hinomi-pattern --example bench -- N --export FILE`:
times stix2-matcher on exactly the evaluation workload hinomi measured (each pattern
against each observed-data on its own), and checks both found the same number of matches.

    python bench/stix2_matcher_peer.py FILE

The workload holds STIX 2.1 observed-data with inline `objects` (deprecated in 2.1),
so stix2-matcher is run in its 2.0 mode, which reads them; the patterns are the same.
"""

import json
import statistics
import sys
import time

from stix2matcher.matcher import Pattern


def main():
    work = json.load(open(sys.argv[1]))
    patterns = [Pattern(p, stix_version="2.0") for p in work["patterns"]]
    observations = work["observations"]
    rates, matched = [], 0
    for _ in range(5):
        start = time.perf_counter()
        matched = 0
        for p in patterns:
            for od in observations:
                if p.match([od]):
                    matched += 1
        n = len(patterns) * len(observations)
        rates.append(n / (time.perf_counter() - start))
    print(f"stix2-matcher: {statistics.median(rates):.0f} evaluations/s (median of 5 rounds; "
          f"{len(patterns)} patterns x {len(observations)} observed-data each on its own; "
          f"{matched} matches per pass)")


if __name__ == "__main__":
    main()
