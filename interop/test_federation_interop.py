"""Interop suite for federation: a foreign TAXII 2.1 server (OASIS medallion, memory
backend) as a peer of a real `hinomi serve`. hinomi pulls medallion's collection (with
`added_after` checkpoints and paging) and pushes what its agreement lets cross into it;
`hinomi federation sync` drives it from the command line.

Run by .ci/run (`pytest interop/`); needs HINOMI_BIN (default target/debug/hinomi).
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests
from taxii2client.v21 import Collection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HINOMI_BIN", os.path.join(ROOT, "target", "debug", "hinomi"))
TAXII = "application/taxii+json;version=2.1"
SHARED = "4f1d6a8e-2c47-4b5e-9f0a-7d3c2e1b5a60"
FEDERATION = "9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94"
MEDALLION_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, headers=None, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            requests.get(url, headers=headers or {}, timeout=1)
            return True
        except requests.ConnectionError:
            time.sleep(0.1)
    return False


def indicator(n, marking, created_by=None):
    o = {
        "type": "indicator", "spec_version": "2.1",
        "id": f"indicator--7a000000-0000-4000-8000-{n:012d}",
        "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
        "name": f"C2 {n}", "pattern": f"[ipv4-addr:value = '192.0.2.{n % 250}']",
        "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z",
        "object_marking_refs": [marking],
    }
    if created_by:
        o["created_by_ref"] = created_by
    return o


@pytest.fixture(scope="module")
def peers():
    tmp = tempfile.mkdtemp(prefix="hinomi-fed-interop-")
    # medallion with 25 objects of its own (CLEAR and GREEN).
    data = {
        "/discovery": {"title": "foreign", "default": "http://127.0.0.1/api1/", "api_roots": ["http://127.0.0.1/api1/"]},
        "api1": {
            "information": {"title": "foreign", "versions": [TAXII], "max_content_length": 10 * 1024 * 1024},
            "status": [],
            "collections": [{
                "id": MEDALLION_COLLECTION, "title": "foreign", "can_read": True, "can_write": True,
                "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": [],
            }],
        },
    }
    with open(os.path.join(tmp, "data.json"), "w") as f:
        json.dump(data, f)
    config = {
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": os.path.join(tmp, "data.json")},
        "users": {"admin": "Password0"},
        "taxii": {"max_page_size": 10},
    }
    with open(os.path.join(tmp, "medallion.json"), "w") as f:
        json.dump(config, f)
    mport = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "medallion")
    med = subprocess.Popen([exe, "--port", str(mport), os.path.join(tmp, "medallion.json")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mbase = f"http://127.0.0.1:{mport}/api1/"
    mauth = {"Authorization": "Basic " + base64.b64encode(b"admin:Password0").decode(),
             "Accept": TAXII, "Content-Type": TAXII}
    assert wait_http(mbase, mauth), "medallion did not start"
    objs = [indicator(n, CLEAR if n % 2 else GREEN) for n in range(25)]
    r = requests.post(mbase + f"collections/{MEDALLION_COLLECTION}/objects/", headers=mauth,
                      data=json.dumps({"objects": objs}))
    assert r.status_code == 202 and r.json()["success_count"] == 25, r.text

    data_dir = os.path.join(tmp, "hinomi")
    boot = subprocess.run([BIN, "admin", "bootstrap", "--data-dir", data_dir, "--country", "JP"],
                          check=True, capture_output=True, text=True)
    admin = json.loads(boot.stdout)
    hport = free_port()
    # medallion runs on this machine over plain http: a lab outbound policy.
    lab = os.path.join(tmp, "hinomi.toml")
    with open(lab, "w") as f:
        f.write('[outbound]\nallow = ["127.0.0.0/8"]\nplain_http_up_to = "red"\n')
    hub = subprocess.Popen([BIN, "serve", "--config", lab, "--data-dir", data_dir,
                            "--listen", f"127.0.0.1:{hport}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    hbase = f"http://127.0.0.1:{hport}"
    assert wait_http(hbase + "/healthz"), "hinomi did not start"
    yield {"mbase": mbase, "mauth": mauth, "hbase": hbase, "admin": admin, "data_dir": data_dir,
           "config": lab}
    hub.terminate()
    hub.wait(timeout=10)
    med.terminate()
    med.wait(timeout=10)


def test_pull_from_and_push_to_medallion(peers):
    hbase, admin = peers["hbase"], peers["admin"]
    ah = {"Authorization": "Bearer " + admin["token"]}
    org = requests.post(hbase + "/api/v1/organizations", headers=ah,
                        json={"name": "Ministry", "kind": "government"}).json()
    tok = requests.post(hbase + f"/api/v1/organizations/{org['id']}/tokens", headers=ah,
                        json={"role": "member"}).json()["token"]
    mh = {"Authorization": "Bearer " + tok}
    # What the member shares: GREEN and CLEAR may cross, AMBER (no audience) may not.
    shared = [indicator(100, GREEN, org["identity_id"]), indicator(101, CLEAR, org["identity_id"]),
              indicator(102, AMBER, org["identity_id"])]
    r = requests.post(hbase + f"/taxii2/hub/collections/{SHARED}/objects/",
                      headers={**mh, "Accept": TAXII, "Content-Type": TAXII},
                      data=json.dumps({"objects": shared}))
    assert r.json()["success_count"] == 3, r.text

    r = requests.post(hbase + "/api/v1/peers", headers=ah, json={
        "name": "foreign", "country": "XX", "identity_id": "identity--0b6a2c5e-8f3d-4c1a-9e7b-5d4f3a2c1b0e",
        "api_root": peers["mbase"], "direction": "both",
        "pull_collections": [MEDALLION_COLLECTION], "push_collection": MEDALLION_COLLECTION,
        "username": "admin", "password": "Password0",
        "agreement": {"green": True, "one_community": True, "exported_collections": ["shared"],
                      "anonymize": True},
    })
    assert r.status_code == 201, r.text
    peer = r.json()
    assert "Password0" not in r.text

    # The command-line sync against the same store (the server keeps serving).
    out = subprocess.run([BIN, "federation", "sync", "foreign", "--config", peers["config"],
                          "--data-dir", peers["data_dir"]],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout
    result = json.loads(out.stdout)
    assert result["ok"] is True, result
    # (The hub's own worker syncs a new peer at once too; between the two, every object
    # arrives once, the rest count as duplicates; medallion answers a re-sent version
    # with a failure, which changes nothing there.)

    # medallion's objects are in the federation collection, readable by the member
    # through the OASIS client.
    col = Collection(f"{hbase}/taxii2/hub/collections/{FEDERATION}/", user="m", password=tok)
    got = col.get_objects()
    ids = {o["id"] for o in got.get("objects", [])}
    assert {indicator(n, CLEAR)["id"] for n in range(25)} <= ids

    # What crossed to medallion: GREEN and CLEAR, anonymized; never the AMBER one.
    r = requests.get(peers["mbase"] + f"collections/{MEDALLION_COLLECTION}/objects/",
                     headers=peers["mauth"], params={"limit": 100, "match[id]": ",".join(o["id"] for o in shared)})
    crossed = {o["id"]: o for o in r.json().get("objects", [])}
    assert set(crossed) == {shared[0]["id"], shared[1]["id"]}, list(crossed)
    hub_identity = admin["identity_id"]
    assert all(o["created_by_ref"] == hub_identity for o in crossed.values())
    assert org["identity_id"] not in r.text

    # Again: nothing new either way (checkpoints and cursors hold).
    r = requests.post(hbase + f"/api/v1/peers/{peer['id']}/sync", headers=ah)
    assert r.status_code == 200, r.text
    assert r.json()["pulled"] == 0 and r.json()["pushed"] == 0, r.text
    # A new object at medallion arrives on the next sync.
    r = requests.post(peers["mbase"] + f"collections/{MEDALLION_COLLECTION}/objects/", headers=peers["mauth"],
                      data=json.dumps({"objects": [indicator(200, CLEAR)]}))
    assert r.status_code == 202
    r = requests.post(hbase + f"/api/v1/peers/{peer['id']}/sync", headers=ah)
    assert r.json()["pulled"] == 1, r.text
    status = requests.get(hbase + f"/api/v1/peers/{peer['id']}", headers=ah).json()["status"]
    assert status["last_pull"] and status["last_push"] and status["objects"]["in"]["TLP:CLEAR"] >= 13
