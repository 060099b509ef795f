"""Differential check of `hinomi csaf validate` against @secvisogram/csaf-validator-lib
(npm, the validator the OASIS CSAF TC points to) on every document in ../shared/csaf:
the 147 OASIS mandatory-test documents, the 59 CISA advisories and the OASIS examples.
For each document the set of failing tests must be equal, except the disagreements
listed below with their reason. Needs node and the library under CSAF_PEER_DIR
(.ci/run installs it)."""

import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("HINOMI_SHARED", os.path.join(ROOT, "..", "shared"))
BIN = os.environ.get("HINOMI_BIN", os.path.join(ROOT, "target", "debug", "hinomi"))
PEER = os.environ.get("CSAF_PEER_DIR", "/var/tmp/csafpeer")
SETS = {
    "oasis-tests": "csaf/oasis-csaf-2.0-tests/test/validator/data/mandatory",
    "cisa": "csaf/cisa-sample",
    "oasis-examples": "csaf/oasis-csaf-2.0-examples/examples/csaf",
}

# Documented disagreements: (document, what hinomi reports, what the peer reports, why).
DEVIATIONS = {
    # The three 6.1.8 documents carry CVSS objects that break the CVSS JSON schema.
    # hinomi reports that as test 6.1.8 (the spec's test for exactly this); the peer
    # reports it twice, as 6.1.8 and as a CSAF schema error.
    "oasis-tests/oasis_csaf_tc-csaf_2_0-2021-6-1-08-01.json": ({"6.1.8"}, {"6.1.8", "schema"}),
    "oasis-tests/oasis_csaf_tc-csaf_2_0-2021-6-1-08-02.json": ({"6.1.8"}, {"6.1.8", "schema"}),
    "oasis-tests/oasis_csaf_tc-csaf_2_0-2021-6-1-08-03.json": ({"6.1.8"}, {"6.1.8", "schema"}),
    # testcases.json lists this document as a 6.1.26 failure; the peer misses it.
    "oasis-tests/oasis_csaf_tc-csaf_2_0-2021-6-1-26-04.json": ({"6.1.26"}, set()),
}


def peer_matrix():
    if not os.path.isdir(os.path.join(PEER, "node_modules", "@secvisogram", "csaf-validator-lib")):
        pytest.skip(f"csaf-validator-lib not installed under {PEER}")
    out = subprocess.run(["node", os.path.join(ROOT, "crates/csaf/bench/csaf_validator_peer.mjs"), "--matrix"],
                         env={**os.environ, "CSAF_PEER_DIR": PEER}, check=True, capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        name, _, tests = line.partition(": ")
        result[name] = set(tests.split())
    return result


def hinomi_matrix():
    result = {}
    for set_name, rel in SETS.items():
        out = subprocess.run([BIN, "csaf", "validate", os.path.join(SHARED, rel)], capture_output=True, text=True)
        assert out.returncode in (0, 1), out.stderr
        for line in out.stdout.splitlines():
            r = json.loads(line)
            result[f"{set_name}/{os.path.basename(r['file'])}"] = {e["test"] for e in r["errors"]}
    return result


def test_hinomi_agrees_with_csaf_validator_lib():
    peer = peer_matrix()
    ours = hinomi_matrix()
    assert len(ours) >= 225 and set(ours) == set(peer)
    disagreements = {}
    for doc, tests in ours.items():
        if tests != peer[doc]:
            disagreements[doc] = (tests, peer[doc])
    assert disagreements == DEVIATIONS
    # Each OASIS failure document fails its own test and each valid one passes it (as
    # testcases.json says), and the real advisories pass everything.
    with open(os.path.join(SHARED, "csaf/oasis-csaf-2.0-tests/test/validator/data/testcases.json")) as f:
        cases = json.load(f)["tests"]
    for case in (c for c in cases if c.get("group") == "mandatory"):
        for doc in case.get("failures", []):
            assert case["id"] in ours["oasis-tests/" + os.path.basename(doc["name"])], doc["name"]
        for doc in case.get("valid", []):
            assert case["id"] not in ours["oasis-tests/" + os.path.basename(doc["name"])], doc["name"]
    assert not any(ours[d] for d in ours if d.startswith("cisa/"))
