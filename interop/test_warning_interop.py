"""Interop suite for warnings: a real `hinomi serve` publishes a warning; the reference
Standard Webhooks library (`standardwebhooks` from PyPI) verifies the webhook it sends,
a real SMTP server (`aiosmtpd`) receives its e-mail, and `stix2-validator` checks the
STIX objects (report, course-of-action, language-content) it serves over TAXII.

Run by .ci/run (`pytest interop/`); needs HINOMI_BIN (default target/debug/hinomi).
"""

import email
import email.header
import email.policy
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from stix2validator import ValidationOptions, validate_instance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HINOMI_BIN", os.path.join(ROOT, "target", "debug", "hinomi"))
WARNINGS_COLLECTION = "7b2e9c41-8d3f-4a6b-b5e1-0c9f4d2a7e38"
TAXII = "application/taxii+json;version=2.1"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Receiver(BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.got.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def wait(cond, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def hub():
    data = tempfile.mkdtemp(prefix="hinomi-warn-interop-")
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    config = os.path.join(data, "hinomi.toml")
    with open(config, "w") as f:
        f.write(
            "[smtp]\n"
            f'host = "127.0.0.1"\nport = {smtp.port}\ntls = "none"\n'
            'from = "warnings@hub.example"\nfrom_name = "hinomi 火の見"\n'
            # The receivers run on this machine over plain http: a lab policy.
            '[outbound]\nallow = ["127.0.0.0/8"]\nplain_http_up_to = "red"\n'
        )
    boot = subprocess.run([BIN, "admin", "bootstrap", "--data-dir", data, "--country", "JP"],
                          check=True, capture_output=True, text=True)
    admin = json.loads(boot.stdout)
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--config", config, "--data-dir", data,
                             "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    if not wait(lambda: _healthy(base), 15):
        proc.kill()
        raise RuntimeError("hinomi did not start: " + proc.stderr.read())
    yield {"base": base, "admin": admin["token"], "mailbox": mailbox,
           "hook": f"http://127.0.0.1:{http.server_address[1]}"}
    proc.terminate()
    proc.wait(timeout=10)
    http.shutdown()
    smtp.stop()


def _healthy(base):
    try:
        return requests.get(base + "/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def member(hub, name):
    h = {"Authorization": "Bearer " + hub["admin"]}
    org = requests.post(hub["base"] + "/api/v1/organizations", headers=h,
                        json={"name": name, "kind": "local-government", "sectors": ["water"]}).json()
    tok = requests.post(hub["base"] + f"/api/v1/organizations/{org['id']}/tokens", headers=h,
                        json={"role": "member"}).json()
    return org, {"Authorization": "Bearer " + tok["token"]}


def test_webhook_email_and_stix_of_a_published_warning(hub):
    base = hub["base"]
    org, h = member(hub, "Prefecture")
    outsider, oh = member(hub, "Outsider")
    r = requests.put(base + "/api/v1/subscription", headers=h, json={"language": "ja"})
    assert r.status_code == 200, r.text
    r = requests.post(base + "/api/v1/subscription/webhooks", headers=h,
                      json={"url": hub["hook"] + "/prefecture"})
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    r = requests.post(base + "/api/v1/subscription/contacts", headers=h,
                      json={"email": "csirt@pref.example.jp"})
    assert r.status_code == 201, r.text
    requests.post(base + "/api/v1/subscription/webhooks", headers=oh,
                  json={"url": hub["hook"] + "/outsider"})

    ah = {"Authorization": "Bearer " + hub["admin"]}
    w = requests.post(base + "/api/v1/warnings", headers=ah, json={
        "title": {"en": "Water SCADA intrusion", "ja": "水道SCADAへの侵入"},
        "summary": {"en": "Intrusions into exposed HMIs.", "ja": "公開されたHMIへの侵入が確認されています。"},
        "required_action": {"en": "Remove HMIs from the internet.", "ja": "HMIをインターネットから切り離してください。"},
        "severity": "high", "tlp": "amber",
        "audience": {"organizations": [org["id"]]},
    }).json()
    r = requests.post(base + f"/api/v1/warnings/{w['id']}/publish", headers=ah)
    assert r.status_code == 200, r.text

    # The webhook verifies with the reference Standard Webhooks implementation.
    assert wait(lambda: any(p == "/prefecture" for p, _, _ in Receiver.got))
    path, headers, body = next(g for g in Receiver.got if g[0] == "/prefecture")
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "warning.published"
    assert payload["data"]["id"] == w["id"]
    assert payload["data"]["title"]["ja"] == "水道SCADAへの侵入"
    tampered = body.replace(b"SCADA", b"scada")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)
    time.sleep(0.3)
    assert not any(p == "/outsider" for p, _, _ in Receiver.got)

    # The e-mail arrives at the real SMTP server, in Japanese with the English text too.
    mailbox = hub["mailbox"]
    assert wait(lambda: len(mailbox.messages) == 1)
    mail_from, rcpts, content = mailbox.messages[0]
    assert mail_from == "warnings@hub.example"
    assert rcpts == ["csirt@pref.example.jp"]
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert "水道SCADAへの侵入" in str(msg["subject"])
    assert "TLP:AMBER" in str(msg["subject"])
    text = msg.get_content()
    assert "公開されたHMIへの侵入が確認されています。" in text
    assert "Intrusions into exposed HMIs." in text
    link = next(line.split(": ", 1)[1] for line in text.splitlines()
                if line.startswith("ワンクリックで受領確認: "))
    # Opening the link (as a mail scanner would) only asks; the confirmation records.
    r = requests.get(link)
    assert r.status_code == 200 and 'method="post"' in r.text
    hist = requests.get(base + f"/api/v1/warnings/{w['id']}/acknowledgements", headers=h).json()
    assert hist["history"] == []
    r = requests.post(link)
    assert r.status_code == 200
    hist = requests.get(base + f"/api/v1/warnings/{w['id']}/acknowledgements", headers=h).json()
    assert [x["status"] for x in hist["history"]] == ["acknowledged"]

    # The STIX objects the warning travels as are valid STIX 2.1.
    r = requests.get(base + f"/taxii2/hub/collections/{WARNINGS_COLLECTION}/objects/",
                     headers={**h, "Accept": TAXII})
    objs = r.json()["objects"]
    types = sorted(o["type"] for o in objs)
    assert types == ["course-of-action", "language-content", "language-content", "report"], types
    for o in objs:
        res = validate_instance(o, ValidationOptions(version="2.1"))
        assert res.is_valid, (o["type"], [str(e) for e in res.errors])
    lc = next(o for o in objs if o["type"] == "language-content" and o["object_ref"].startswith("report--"))
    assert lc["contents"]["ja"]["name"] == "水道SCADAへの侵入"
    r = requests.get(base + f"/taxii2/hub/collections/{WARNINGS_COLLECTION}/objects/",
                     headers={**oh, "Accept": TAXII})
    assert r.status_code in (200, 404)
    assert w["id"] not in r.text
