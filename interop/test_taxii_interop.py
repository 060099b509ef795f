"""Interop suite: the real OASIS `taxii2-client` drives a real `hinomi serve` over
loopback, and the real `stix2-validator` checks every object the hub serves.

Run by .ci/run (`pytest interop/`); needs HINOMI_BIN (default target/debug/hinomi).
"""

import copy
import glob
import json
import os
import socket
import subprocess
import tempfile
import time

import pytest
import requests
from stix2validator import ValidationOptions, validate_instance
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("HINOMI_SHARED", os.path.join(ROOT, "..", "shared"))
BIN = os.environ.get("HINOMI_BIN", os.path.join(ROOT, "target", "debug", "hinomi"))
SHARED_COLLECTION = "4f1d6a8e-2c47-4b5e-9f0a-7d3c2e1b5a60"
PUBLIC_COLLECTION = "c3a8f5d2-6e1b-4c9a-8f7d-2b4e6a1c9d05"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def hub():
    data = tempfile.mkdtemp(prefix="hinomi-interop-")
    boot = subprocess.run([BIN, "admin", "bootstrap", "--data-dir", data, "--country", "JP"],
                          check=True, capture_output=True, text=True)
    admin = json.loads(boot.stdout)
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("hinomi did not start: " + proc.stderr.read())

    def member(name, kind="government"):
        h = {"Authorization": "Bearer " + admin["token"]}
        org = requests.post(base + "/api/v1/organizations", headers=h,
                            json={"name": name, "kind": kind, "sectors": ["energy"]}).json()
        tok = requests.post(base + f"/api/v1/organizations/{org['id']}/tokens", headers=h,
                            json={"role": "member"}).json()
        return org, tok["token"]

    yield {"base": base, "admin": admin, "member": member}
    proc.terminate()
    proc.wait(timeout=10)


def indicator(n, modified="2026-01-01T00:00:00.000Z", marking=GREEN):
    return {
        "type": "indicator", "spec_version": "2.1",
        "id": f"indicator--40000000-0000-4000-8000-{n:012d}",
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "name": f"Phishing domain {n}", "indicator_types": ["malicious-activity"],
        "pattern": f"[domain-name:value = 'phish{n}.example']",
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [marking],
    }


def collection(hub, token, cid=SHARED_COLLECTION):
    return Collection(f"{hub['base']}/taxii2/hub/collections/{cid}/", user="member", password=token)


def test_discovery_api_root_collections(hub):
    _, token = hub["member"]("Ministry of Discovery")
    server = Server(hub["base"] + "/taxii2/", user="m", password=token)
    assert server.title
    assert len(server.api_roots) == 1
    root = server.default
    assert isinstance(root, ApiRoot)
    assert "application/taxii+json;version=2.1" in root.versions
    assert root.max_content_length > 0
    titles = {c.title for c in root.collections}
    assert {"Shared analysis", "Warnings and advisories", "Public (TLP:CLEAR)"} <= titles
    shared = next(c for c in root.collections if c.id == SHARED_COLLECTION)
    assert shared.can_read and shared.can_write
    warnings = next(c for c in root.collections if c.title == "Warnings and advisories")
    assert warnings.can_read and not warnings.can_write


def test_add_status_paging_filters_manifest_versions_delete(hub):
    org, token = hub["member"]("Power utility", "private")
    col = collection(hub, token)
    objs = [indicator(n) for n in range(30)]
    objs += [indicator(0, "2026-02-01T00:00:00.000Z"), indicator(0, "2026-03-01T00:00:00.000Z")]
    status = col.add_objects({"objects": objs})
    assert status.status == "complete"
    assert status.total_count == 32 and status.success_count == 32
    assert status.failure_count == 0 and status.pending_count == 0
    status.refresh()  # GET .../status/{id} without trailing slash
    assert status.success_count == 32

    # An invalid object is a failure with a reason; the rest is stored.
    bad = indicator(500)
    del bad["pattern"]
    st = col.add_objects({"objects": [bad, indicator(501)]})
    assert st.success_count == 1 and st.failure_count == 1
    assert "pattern" in st.failures[0]["message"]

    # Paging with as_pages, every filter.
    ids = []
    pages = 0
    for env in as_pages(col.get_objects, per_request=7, type="indicator"):
        pages += 1
        ids += [o["id"] for o in env.get("objects", [])]
    assert len(ids) == len(set(ids)) == 31
    assert pages == 5
    one = "indicator--40000000-0000-4000-8000-000000000000"
    assert len(col.get_objects(id=one, version="all")["objects"]) == 3
    assert col.get_objects(id=one, version="first")["objects"][0]["modified"] == "2026-01-01T00:00:00.000Z"
    assert col.get_objects(id=one)["objects"][0]["modified"] == "2026-03-01T00:00:00.000Z"
    assert col.get_objects(id=one, version="2026-02-01T00:00:00.000Z")["objects"][0]["modified"] == \
        "2026-02-01T00:00:00.000Z"
    assert "objects" not in col.get_objects(spec_version="2.0")
    assert len(col.get_objects(spec_version="2.1", type="indicator", limit=1000)["objects"]) == 31
    first = col.get_objects(type="indicator", limit=10)
    last_added = first["objects"][-1]["id"]
    manifest = col.get_manifest(type="indicator", limit=10)
    assert [m["id"] for m in manifest["objects"]][-1] == last_added
    after = manifest["objects"][-1]["date_added"]
    assert len(col.get_objects(type="indicator", added_after=after, limit=1000)["objects"]) == 21
    mpages = [len(p.get("objects", [])) for p in as_pages(col.get_manifest, per_request=10, type="indicator")]
    assert sum(mpages) == 31

    assert len(col.get_object(one)["objects"]) == 1
    versions = col.object_versions(one)["versions"]
    assert len(versions) == 3 and versions == sorted(versions)

    col.delete_object(one, version="2026-03-01T00:00:00.000Z")
    assert col.get_object(one)["objects"][0]["modified"] == "2026-02-01T00:00:00.000Z"
    col.delete_object(one)
    with pytest.raises(requests.HTTPError) as e:
        col.get_object(one)
    assert e.value.response.status_code == 404


def test_access_rule_seen_through_the_client(hub):
    _, owner = hub["member"]("Reporter", "private")
    _, other = hub["member"]("Bystander", "private")
    amber = indicator(700, marking="marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421")
    collection(hub, owner).add_objects({"objects": [amber]})
    assert len(collection(hub, owner).get_object(amber["id"])["objects"]) == 1
    with pytest.raises(requests.HTTPError) as e:
        collection(hub, other).get_object(amber["id"])
    assert e.value.response.status_code == 404
    # The public collection is readable without credentials.
    anon = Collection(f"{hub['base']}/taxii2/hub/collections/{PUBLIC_COLLECTION}/")
    served = anon.get_objects()["objects"]
    assert any(o["type"] == "extension-definition" for o in served)
    with pytest.raises(requests.HTTPError) as e:
        Collection(f"{hub['base']}/taxii2/hub/collections/{SHARED_COLLECTION}/").get_objects()
    assert e.value.response.status_code == 401


def oasis_example_objects():
    out = []
    for path in sorted(glob.glob(os.path.join(SHARED, "stix", "examples", "**", "*.json"), recursive=True)):
        with open(path) as f:
            doc = json.load(f)
        out += doc.get("objects", [doc]) if isinstance(doc, dict) else []
    return out


def test_every_served_object_passes_stix2_validator(hub):
    """OASIS examples go in through TAXII (created_by_ref is set to the submitter, as the
    hub requires) and come out unchanged in meaning; stix2-validator passes all of them,
    including the hub's own extension-definition and TLP 1.0-marked objects."""
    org, token = hub["member"]("Threat research unit", "isac")
    objects = []
    for o in oasis_example_objects():
        o = copy.deepcopy(o)
        if "created_by_ref" in o:
            o["created_by_ref"] = org["identity_id"]
        if o["type"] == "identity":
            continue  # identities of other organizations are not ours to publish
        o.setdefault("object_marking_refs", [GREEN])
        objects.append(o)
    marked = indicator(800, marking=TLP1_WHITE)
    objects.append(marked)
    red = {o["id"] for o in objects
           if "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" in o.get("object_marking_refs", [])}
    st = collection(hub, token).add_objects({"objects": objects})
    # The OASIS object marked TLP (1.0) RED names no audience: refused, as DESIGN.md says.
    assert red and {f["id"] for f in st.failures} == red, st.failures
    assert all("RED" in f["message"] for f in st.failures)
    assert st.success_count == len(objects) - len(red)

    opts = ValidationOptions(version="2.1", strict=False)
    served = []
    for env in as_pages(collection(hub, token).get_objects, per_request=100, version="all"):
        served += env.get("objects", [])
    anon = Collection(f"{hub['base']}/taxii2/hub/collections/{PUBLIC_COLLECTION}/")
    served += anon.get_objects()["objects"]
    assert len(served) >= len(objects) - len(red)
    for o in served:
        result = validate_instance(o, opts)
        assert result.is_valid, (o["id"], [str(e) for e in result.errors])


def test_bad_input_is_a_taxii_error(hub):
    _, token = hub["member"]("Fuzzer", "private")
    url = f"{hub['base']}/taxii2/hub/collections/{SHARED_COLLECTION}/objects/"
    h = {"Authorization": "Bearer " + token, "Accept": "application/taxii+json;version=2.1"}
    for params, status in [({"added_after": "nope"}, 400), ({"limit": "0"}, 400), ({"next": "x"}, 400)]:
        r = requests.get(url, headers=h, params=params)
        assert r.status_code == status
        assert r.headers["Content-Type"] == "application/taxii+json;version=2.1"
        assert r.json()["http_status"] == str(status)
    r = requests.post(url, headers={**h, "Content-Type": "application/taxii+json;version=2.1"}, data=b"{not json")
    assert r.status_code == 400 and "request body" in r.json()["description"]
    r = requests.get(url, headers={**h, "Accept": "text/html"})
    assert r.status_code == 406
    with pytest.raises((TAXIIServiceException, requests.HTTPError)):
        Collection(url.replace("objects/", ""), user="x", password="hnm_wrong").refresh()


def test_acknowledged_writes_survive_kill_9_and_sigterm_is_graceful():
    data = tempfile.mkdtemp(prefix="hinomi-kill-")
    boot = json.loads(subprocess.run([BIN, "admin", "bootstrap", "--data-dir", data],
                                     check=True, capture_output=True, text=True).stdout)
    # A second bootstrap on the same store is refused with a clear message.
    again = subprocess.run([BIN, "admin", "bootstrap", "--data-dir", data], capture_output=True, text=True)
    assert again.returncode != 0 and "already has a coordinator" in again.stderr

    def start():
        port = free_port()
        p = subprocess.Popen([BIN, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base + "/healthz", timeout=1)
                return p, base
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("hinomi did not start")

    proc, base = start()
    col = Collection(f"{base}/taxii2/hub/collections/{SHARED_COLLECTION}/", user="a", password=boot["token"])
    st = col.add_objects({"objects": [indicator(n) for n in range(900, 1400)]})
    assert st.success_count == 500
    proc.kill()  # SIGKILL right after the 202
    proc.wait()

    proc, base = start()
    col = Collection(f"{base}/taxii2/hub/collections/{SHARED_COLLECTION}/", user="a", password=boot["token"])
    assert len(col.get_objects(type="indicator", limit=10000)["objects"]) == 500
    proc.terminate()  # SIGTERM: graceful
    assert proc.wait(timeout=10) == 0


def test_backup_and_restore_through_the_cli(hub):
    """`hinomi admin backup` while serving, then `restore` into a new data directory."""
    data = tempfile.mkdtemp(prefix="hinomi-bk-")
    subprocess.run([BIN, "admin", "bootstrap", "--data-dir", data], check=True, capture_output=True)
    backup = os.path.join(data, "backup.db")
    subprocess.run([BIN, "admin", "backup", "--data-dir", data, "--to", backup], check=True, capture_output=True)
    again = subprocess.run([BIN, "admin", "backup", "--data-dir", data, "--to", backup], capture_output=True, text=True)
    assert again.returncode != 0 and "exists" in again.stderr
    target = tempfile.mkdtemp(prefix="hinomi-restored-")
    subprocess.run([BIN, "admin", "restore", "--from", backup, "--data-dir", target], check=True, capture_output=True)
    # The restored store already has its coordinator.
    r = subprocess.run([BIN, "admin", "bootstrap", "--data-dir", target], capture_output=True, text=True)
    assert r.returncode != 0 and "already has a coordinator" in r.stderr


def test_https_with_a_configured_certificate(monkeypatch):
    """With tls_cert/tls_key the hub serves HTTPS (rustls); taxii2-client verifies it."""
    # requests lets these variables override a session's own CA file.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    d = tempfile.mkdtemp(prefix="hinomi-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    boot = json.loads(subprocess.run([BIN, "admin", "bootstrap", "--data-dir", d], check=True,
                                     capture_output=True, text=True).stdout)
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--data-dir", d, "--listen", f"127.0.0.1:{port}",
                             "--tls-cert", cert, "--tls-key", key],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"https://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/healthz", verify=cert, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        server = Server(base + "/taxii2/", user="a", password=boot["token"], verify=cert)
        assert server.default.versions == ["application/taxii+json;version=2.1"]
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # A key that does not parse is a clear startup error naming the file.
    bad = subprocess.run([BIN, "serve", "--data-dir", d, "--tls-cert", cert, "--tls-key", cert],
                         capture_output=True, text=True, timeout=20)
    assert bad.returncode != 0 and "cert.pem" in bad.stderr and "private key" in bad.stderr


@pytest.mark.skipif(not os.environ.get("HINOMI_TEST_DATABASE_URL"), reason="HINOMI_TEST_DATABASE_URL not set")
def test_the_binary_on_postgresql():
    """`hinomi admin bootstrap` and `hinomi serve` on PostgreSQL (a fresh schema)."""
    url = os.environ["HINOMI_TEST_DATABASE_URL"]
    schema = "hinomi_test_interop_%d" % os.getpid()
    subprocess.run(["psql", "-q", url, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE", "-c", f"CREATE SCHEMA {schema}"],
                   check=True, capture_output=True)
    db = url + ("&" if "?" in url else "?") + f"options=-c%20search_path%3D{schema}"
    boot = json.loads(subprocess.run([BIN, "admin", "bootstrap", "--database-url", db], check=True,
                                     capture_output=True, text=True).stdout)
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--database-url", db, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        col = Collection(f"{base}/taxii2/hub/collections/{SHARED_COLLECTION}/", user="a", password=boot["token"])
        st = col.add_objects({"objects": [indicator(n) for n in range(2000, 2050)]})
        assert st.success_count == 50
        pages = [len(p.get("objects", [])) for p in as_pages(col.get_objects, per_request=20, type="indicator")]
        assert pages == [20, 20, 10]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
