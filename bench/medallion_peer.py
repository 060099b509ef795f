"""The peer in BENCHMARKS.md: OASIS medallion 3.0.0 (memory backend) on the same TAXII
workload as `cargo run --release -p hinomi-hub --example taxii_bench`.

    python bench/medallion_peer.py [--envelopes 5]

Posts envelopes of 1,000 indicators (the generator of taxii_bench.rs), then times the
first page (limit=1000). Prints one JSON object. Needs `pip install medallion==3.0.0
requests`.
"""

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

TAXII = "application/taxii+json;version=2.1"
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


def indicator(i):
    return {
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--%08x-0000-4000-8000-%012x" % (i >> 16, i),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": "Malicious address %d" % i,
        "indicator_types": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '10.%d.%d.%d']" % ((i >> 16) & 255, (i >> 8) & 255, i & 255),
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--envelopes", type=int, default=5)
    ap.add_argument("--no-first-page", action="store_true",
                    help="skip timing the first page (it grows with the square of the size)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="medallion-bench-")
    data = {
        "/discovery": {"title": "bench", "default": "http://127.0.0.1/api1/", "api_roots": ["http://127.0.0.1/api1/"]},
        "api1": {
            "information": {"title": "bench", "versions": [TAXII], "max_content_length": 100 * 1024 * 1024},
            "status": [],
            "collections": [{
                "id": COLLECTION, "title": "bench", "can_read": True, "can_write": True,
                "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": [],
            }],
        },
    }
    with open(os.path.join(tmp, "data.json"), "w") as f:
        json.dump(data, f)
    config = {
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend", "filename": os.path.join(tmp, "data.json")},
        "users": {"admin": "Password0"},
        "taxii": {"max_page_size": 1000},
    }
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config, f)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    exe = os.path.join(os.path.dirname(sys.executable), "medallion")
    proc = subprocess.Popen([exe, "--port", str(port), os.path.join(tmp, "config.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = "Basic " + base64.b64encode(b"admin:Password0").decode()
    base = "http://127.0.0.1:%d/api1/collections/%s/objects/" % (port, COLLECTION)
    h = {"Authorization": auth, "Accept": TAXII, "Content-Type": TAXII}
    try:
        for _ in range(100):
            try:
                requests.get(base, headers=h, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        rates = []
        t_all = 0.0
        for e in range(args.envelopes):
            body = json.dumps({"objects": [indicator(i) for i in range(e * 1000, (e + 1) * 1000)]})
            t = time.perf_counter()
            r = requests.post(base, headers=h, data=body)
            dt = time.perf_counter() - t
            t_all += dt
            assert r.status_code == 202 and r.json()["success_count"] == 1000, r.text[:300]
            rates.append(1000 / dt)
            print("medallion: envelope %d %.0f objects/s" % (e + 1, 1000 / dt), file=sys.stderr)
        firsts = []
        for _ in range(0 if args.no_first_page else 3):
            t = time.perf_counter()
            r = requests.get(base, headers=h, params={"limit": "1000"})
            firsts.append((time.perf_counter() - t) * 1000)
            assert len(r.json()["objects"]) == 1000
        print(json.dumps({
            "peer": "medallion 3.0.0 (memory backend)",
            "objects": args.envelopes * 1000,
            "ingest_objects_per_s_median_envelope": statistics.median(rates),
            "ingest_objects_per_s_overall": args.envelopes * 1000 / t_all,
            "last_envelope_objects_per_s": rates[-1],
            "first_page_ms_median": statistics.median(firsts) if firsts else None,
        }, indent=2))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
