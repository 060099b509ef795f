"""The web UI as a person uses it, in a real headless browser (Debian's chromium and
chromium-driver, driven over WebDriver by Selenium), in English and in Japanese:
accept an invitation (password and authenticator enrolment), sign in with the second
factor, read and acknowledge a warning, see it acknowledged on the coordinator's
dashboard, read the public page and its Atom feed. axe-core (npm) checks every page for
serious or critical accessibility violations.

Screenshots of every page go to HINOMI_SCREENSHOTS when it is set (docs/screenshots is
made that way). Needs HINOMI_BIN and AXE_JS (the path of axe.min.js); .ci/run sets both.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HINOMI_BIN", os.path.join(ROOT, "target", "debug", "hinomi"))
AXE_JS = os.environ.get("AXE_JS", "/var/tmp/hinomi-npm/node_modules/axe-core/axe.min.js")
SHOTS = os.environ.get("HINOMI_SCREENSHOTS")
ATOM = "{http://www.w3.org/2005/Atom}"
PASSWORD = "a long passphrase for the watch desk"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait(cond, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def totp(secret_b32, at=None):
    """RFC 6238 (HMAC-SHA1, 30 s, six digits), written here from the RFC, not the hub."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int((time.time() if at is None else at) // 30)
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = h[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", h[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000)


@pytest.fixture(scope="module")
def hub():
    data = tempfile.mkdtemp(prefix="hinomi-web-")
    boot = subprocess.run([BIN, "admin", "bootstrap", "--data-dir", data, "--country", "JP"],
                          check=True, capture_output=True, text=True)
    admin = json.loads(boot.stdout)
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return requests.get(base + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    if not wait(healthy):
        proc.kill()
        raise RuntimeError("hinomi did not start: " + proc.stderr.read())
    ah = {"Authorization": "Bearer " + admin["token"]}
    org = requests.post(base + "/api/v1/organizations", headers=ah, json={
        "name": "Prefecture Water Bureau", "kind": "local-government", "sectors": ["water"]}).json()
    public = requests.post(base + "/api/v1/warnings", headers=ah, json={
        "title": {"en": "Phishing wave impersonating the tax office",
                  "ja": "税務署をかたるフィッシングの急増"},
        "summary": {"en": "Messages lure recipients to a fake refund page.",
                    "ja": "還付金の偽ページへ誘導するメッセージが確認されています。"},
        "severity": "medium", "tlp": "clear", "audience": {"all": True}}).json()
    assert requests.post(base + f"/api/v1/warnings/{public['id']}/publish",
                         headers=ah).status_code == 200
    amber = requests.post(base + "/api/v1/warnings", headers=ah, json={
        "title": {"en": "Water SCADA intrusion", "ja": "水道SCADAへの侵入"},
        "summary": {"en": "Intrusions into exposed HMIs.",
                    "ja": "公開されたHMIへの侵入が確認されています。"},
        "required_action": {"en": "Remove HMIs from the internet.",
                            "ja": "HMIをインターネットから切り離してください。"},
        "severity": "high", "tlp": "amber", "ack_required": True,
        "audience": {"organizations": [org["id"]]}}).json()
    r = requests.post(base + f"/api/v1/warnings/{amber['id']}/publish", headers=ah)
    assert r.status_code == 200, r.text

    shared = os.environ.get("HINOMI_SHARED", os.path.join(ROOT, "..", "shared"))
    with open(os.path.join(shared, "csaf", "cisa-sample", "icsa-24-289-02.json")) as f:
        r = requests.post(base + "/api/v1/advisories", headers=ah, json=json.load(f))
    assert r.status_code == 201, r.text

    def invite(email, organization=None, role="analyst"):
        args = [BIN, "admin", "invite", "--data-dir", data, "--email", email, "--role", role]
        if organization:
            args += ["--organization", organization]
        out = subprocess.run(args, check=True, capture_output=True, text=True)
        link = json.loads(out.stdout)["link"]
        return base + link[link.index("/invite/"):]

    yield {"base": base, "org": org, "public": public, "amber": amber, "invite": invite,
           "admin": ah}
    proc.terminate()
    proc.wait(timeout=10)


def browser(lang):
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1000", f"--lang={lang}"]:
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"intl.accept_languages": lang})
    d = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    d.set_page_load_timeout(20)
    return d


def go(d, element):
    """Clicks `element` and waits for the page it leads to (a click returns before the
    browser has navigated)."""
    # A mark on the old document; the new one does not have it. (Asking the browser
    # while it is between documents may fail: such answers are retried.)
    d.execute_script("window.hinomiOldPage = true")
    element.click()
    WebDriverWait(d, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return window.hinomiOldPage === undefined && document.readyState === 'complete'"))


def submit(d, css="main form button[type=submit]"):
    go(d, d.find_element(By.CSS_SELECTOR, css))


def check_page(d, name, lang):
    """axe-core finds no serious or critical violation; a screenshot when asked."""
    with open(AXE_JS) as f:
        d.execute_script(f.read())
    result = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations));")
    bad = [(v["id"], v["impact"], [n["html"] for n in v["nodes"]][:3]) for v in result
           if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name} ({lang}): {bad}"
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        # The whole page, not only the window.
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(1280, min(max(height, 600), 4000))
        d.save_screenshot(os.path.join(SHOTS, f"{name}-{lang}.png"))
        d.set_window_size(1280, 1000)


def accept_invitation(d, link, name):
    d.get(link)
    secret = d.find_element(By.ID, "totp-secret").text.strip()
    d.find_element(By.ID, "name").send_keys(name)
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "password_again").send_keys(PASSWORD)
    d.find_element(By.ID, "code").send_keys(totp(secret))
    return secret


def sign_in(d, base, email, secret, lang):
    d.get(base + "/login")
    check_page(d, "login", lang)
    d.find_element(By.ID, "email").send_keys(email)
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    submit(d)
    assert d.current_url.endswith("/login/code"), d.current_url
    check_page(d, "code", lang)
    # The code of the next step: the one used at enrolment is good only once.
    d.find_element(By.ID, "code").send_keys(totp(secret, time.time() + 30))
    submit(d)


def sign_out(d):
    submit(d, "header form[action='/logout'] button")
    assert d.current_url.endswith("/public")


TEXT = {
    "en": {"title": "Water SCADA intrusion", "ack": "Acknowledged", "recorded": "Your status has been recorded.",
           "public": "Phishing wave impersonating the tax office", "wrong": "The e-mail address or the password is wrong."},
    "ja": {"title": "水道SCADAへの侵入", "ack": "受領確認", "recorded": "対応状況を記録しました。",
           "public": "税務署をかたるフィッシングの急増", "wrong": "メールアドレスまたはパスワードが正しくありません。"},
}


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_member_signs_in_with_a_second_factor_and_acknowledges(hub, lang):
    base, t = hub["base"], TEXT[lang]
    email = f"analyst-{lang}@water.example.jp"
    link = hub["invite"](email, hub["org"]["id"])
    d = browser(lang)
    try:
        d.get(link)
        check_page(d, "invite", lang)
        secret = accept_invitation(d, link, f"Analyst {lang.upper()}")
        submit(d)
        assert d.current_url.endswith("/inbox"), d.current_url
        sign_out(d)
        # The link works once.
        d.get(link)
        assert "/invite/" in d.current_url and d.find_elements(By.ID, "totp-secret") == []

        # A wrong password is refused in the page's language.
        d.get(base + "/login")
        d.find_element(By.ID, "email").send_keys(email)
        d.find_element(By.ID, "password").send_keys("not the passphrase at all")
        submit(d)
        assert t["wrong"] in d.find_element(By.CSS_SELECTOR, ".error").text

        sign_in(d, base, email, secret, lang)
        assert d.current_url.endswith("/inbox"), d.current_url
        check_page(d, "inbox", lang)
        cards = d.find_elements(By.CSS_SELECTOR, ".cards .card")
        titles = [c.find_element(By.CSS_SELECTOR, "h2").text for c in cards]
        assert t["title"] in titles and t["public"] in titles, titles
        go(d, d.find_element(By.LINK_TEXT, t["title"]))
        check_page(d, "warning", lang)
        assert d.find_element(By.CSS_SELECTOR, ".tlp").text == "TLP:AMBER"
        d.find_element(By.CSS_SELECTOR, "input[name=status][value=acknowledged]").click()
        d.find_element(By.ID, "note").send_keys("SOC notified")
        submit(d, ".status-form button[type=submit]")
        assert t["recorded"] in d.find_element(By.CSS_SELECTOR, ".notice").text
        rows = d.find_elements(By.CSS_SELECTOR, "table tbody tr")
        assert any(t["ack"] in r.text and "SOC notified" in r.text for r in rows)

        # An SBOM upload and the findings it gives.
        d.get(base + "/assets")
        check_page(d, "assets", lang)
        d.find_element(By.ID, "asset").send_keys(f"dc-{lang}")
        sbom = os.path.join(tempfile.mkdtemp(), f"dc-{lang}.json")
        with open(sbom, "w") as f:
            json.dump({"components": [{"name": "Data Center Expert", "vendor": "Schneider Electric",
                                       "version": "8.1.0"}]}, f)
        d.find_element(By.ID, "sbom").send_keys(sbom)
        submit(d)
        assert "uploaded=" in d.current_url
        d.get(base + "/findings")
        check_page(d, "findings", lang)
        assert "CVE-2024-8530" in d.find_element(By.TAG_NAME, "main").text

        d.get(base + "/subscription")
        check_page(d, "subscription", lang)
        d.get(base + "/share")
        d.find_element(By.ID, "name").send_keys("C2 of the SCADA campaign")
        d.find_element(By.ID, "observables").send_keys(f"203.0.113.{10 if lang == 'en' else 11}")
        submit(d)
        assert d.find_elements(By.CSS_SELECTOR, ".notice")
        check_page(d, "share", lang)

        d.get(base + "/account")
        check_page(d, "account", lang)
        assert len(d.find_elements(By.CSS_SELECTOR, "table tbody tr")) >= 2
    finally:
        d.quit()
    hist = requests.get(base + f"/api/v1/warnings/{hub['amber']['id']}/acknowledgements",
                        headers=hub["admin"]).json()["history"]
    assert any(h["status"] == "acknowledged" and h["note"] == "SOC notified" for h in hist)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_coordinator_sees_the_acknowledgements_on_the_dashboard(hub, lang):
    base = hub["base"]
    email = f"duty-officer-{lang}@ncert.example.jp"
    link = hub["invite"](email, role="admin")
    d = browser(lang)
    try:
        accept_invitation(d, link, f"Duty Officer {lang.upper()}")
        submit(d)
        assert d.current_url.endswith("/dashboard"), d.current_url
        d.refresh()
        check_page(d, "dashboard", lang)
        row = next(r for r in d.find_elements(By.CSS_SELECTOR, "table tbody tr")
                   if TEXT[lang]["title"] in r.text)
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[2] == "1", cells  # one recipient
        if lang == "ja":  # by then both the English and the Japanese analyst acknowledged
            assert cells[3] == "1", cells
        # Writing a warning: both languages previewed side by side before the draft.
        d.get(base + "/warnings/new")
        d.find_element(By.ID, "title_en").send_keys("Exploited VPN appliance")
        d.find_element(By.ID, "summary_en").send_keys("Patch the appliance today.")
        d.find_element(By.ID, "title_ja").send_keys("VPN 装置の脆弱性悪用")
        d.find_element(By.ID, "summary_ja").send_keys("本日中に装置を更新してください。")
        submit(d, "form button[value=preview]")
        previews = d.find_elements(By.CSS_SELECTOR, "article.preview")
        assert [p.get_attribute("lang") for p in previews] == ["en", "ja"]
        assert "VPN 装置の脆弱性悪用" in previews[1].text
        check_page(d, "author", lang)
        # Member management.
        d.get(base + "/members")
        check_page(d, "members", lang)
        go(d, d.find_element(By.LINK_TEXT, "Prefecture Water Bureau"))
        check_page(d, "member", lang)
        assert "analyst-en@water.example.jp" in d.find_element(By.TAG_NAME, "main").text
    finally:
        d.quit()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_public_page_and_atom_feed(hub, lang):
    base, t = hub["base"], TEXT[lang]
    d = browser(lang)
    try:
        d.get(base + "/")
        assert d.current_url.endswith("/public")
        check_page(d, "public", lang)
        titles = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".cards h2")]
        assert titles == [t["public"]], titles  # the AMBER warning is not public
        feed = d.find_element(By.CSS_SELECTOR, "link[rel=alternate][type='application/atom+xml']")
        href = feed.get_attribute("href")
        go(d, d.find_element(By.LINK_TEXT, t["public"]))
        check_page(d, "public-warning", lang)
        assert d.find_element(By.CSS_SELECTOR, ".tlp").text == "TLP:CLEAR"
        # The language switch goes to the other language and stays there.
        go(d, d.find_element(By.CSS_SELECTOR, "a.lang"))
        other = "ja" if lang == "en" else "en"
        assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == other
        d.get(base + "/public")
        assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == other
        d.get(base + f"/public/advisories?lang={lang}")
        check_page(d, "public-advisories", lang)
        assert "ICSA-24-289-02" in d.find_element(By.TAG_NAME, "main").text
    finally:
        d.quit()
    r = requests.get(href)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)
    assert root.tag == ATOM + "feed"
    for tag in ["id", "title", "updated"]:
        assert root.find(ATOM + tag) is not None and root.find(ATOM + tag).text
    entries = root.findall(ATOM + "entry")
    assert len(entries) == 1
    e = entries[0]
    assert t["public"] in e.find(ATOM + "title").text
    assert e.find(ATOM + "link").get("href").endswith(f"/public/warnings/{hub['public']['id']}")
    assert e.find(ATOM + "id").text.startswith("urn:uuid:")


REPORT = {
    "en": {"title": "Ransomware on the billing servers", "warn": "Ransomware hitting billing servers",
           "summary": "Encryption of billing servers after VPN compromise.", "filed": "Your report has been received.",
           "removed": "Removed before it leaves"},
    "ja": {"title": "請求サーバーのランサムウェア感染", "warn": "請求サーバーを狙うランサムウェア",
           "summary": "VPN 侵害後に請求サーバーが暗号化されています。", "filed": "報告を受け付けました。",
           "removed": "送信前に除去される情報"},
}


def set_value(d, element_id, value):
    """Sets an input a person would pick from a widget (datetime-local)."""
    d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.ID, element_id), value)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_report_triage_and_redistribute_as_a_sanitized_warning(hub, lang, tmp_path):
    base, t = hub["base"], REPORT[lang]
    # A member reports, with observables and an attachment.
    member = browser(lang)
    coord = browser(lang)
    try:
        link = hub["invite"](f"reporter-{lang}@water.example.jp", hub["org"]["id"])
        accept_invitation(member, link, f"Reporter {lang.upper()}")
        submit(member)
        member.get(base + "/report")
        check_page(member, "report-form", lang)
        member.find_element(By.ID, "title").send_keys(t["title"])
        member.find_element(By.ID, "description").send_keys("Billing at Prefecture Water Bureau encrypted.")
        set_value(member, "discovered", "2026-12-07T08:00")
        member.find_element(By.ID, "observables").send_keys(f"198.51.100.23\nbilling-{lang}.evil.example")
        log = tmp_path / "vpn.log"
        log.write_text("Dec  7 07:58:01 vpn login admin from 198.51.100.23\n")
        member.find_element(By.ID, "attachments").send_keys(str(log))
        submit(member)
        assert "/reports/" in member.current_url and "filed=1" in member.current_url, member.current_url
        assert t["filed"] in member.find_element(By.CSS_SELECTOR, ".notice").text
        check_page(member, "report", lang)
        body = member.find_element(By.TAG_NAME, "main").text
        assert "198.51.100.23" in body and "vpn.log" in body

        # The coordinator triages the case and redistributes it, previewed in both languages.
        link = hub["invite"](f"triage-{lang}@ncert.example.jp", role="analyst")
        accept_invitation(coord, link, f"Triage {lang.upper()}")
        submit(coord)
        coord.get(base + "/incidents")
        check_page(coord, "incidents", lang)
        go(coord, coord.find_element(By.LINK_TEXT, t["title"]))
        case_url = coord.current_url
        check_page(coord, "incident", lang)
        coord.find_element(By.CSS_SELECTOR, "#state option[value=triaging]").click()
        submit(coord, "form[action$='/state'] button")
        assert coord.current_url == case_url
        assert coord.find_element(By.CSS_SELECTOR, "#state option[value=triaging]").is_selected()
        # A warning is drafted from a confirmed case.
        coord.find_element(By.CSS_SELECTOR, "#state option[value=confirmed]").click()
        coord.find_element(By.ID, "reason").send_keys("VPN logs match a known campaign")
        submit(coord, "form[action$='/state'] button")
        assert coord.find_element(By.CSS_SELECTOR, "#state option[value=confirmed]").is_selected()
        coord.find_element(By.ID, "title_en").send_keys(REPORT["en"]["warn"])
        coord.find_element(By.ID, "summary_en").send_keys(REPORT["en"]["summary"])
        coord.find_element(By.ID, "title_ja").send_keys(REPORT["ja"]["warn"])
        coord.find_element(By.ID, "summary_ja").send_keys(REPORT["ja"]["summary"])
        submit(coord, "form[action$='/redistribute'] button[value=preview]")
        previews = coord.find_elements(By.CSS_SELECTOR, "article.preview")
        assert [p.get_attribute("lang") for p in previews] == ["en", "ja"], \
            [e.text for e in coord.find_elements(By.CSS_SELECTOR, ".error")]
        assert REPORT["en"]["warn"] in previews[0].text and REPORT["ja"]["warn"] in previews[1].text
        page = coord.find_element(By.TAG_NAME, "main").text
        assert t["removed"] in page
        # Nothing identifying the reporter is in the preview.
        for p in previews:
            assert "Prefecture Water Bureau" not in p.text and "Billing at" not in p.text
        check_page(coord, "incident-preview", lang)
        submit(coord, "form[action$='/redistribute'] button[value=create]")
        assert "/warnings/" in coord.current_url, coord.current_url
        check_page(coord, "warning-draft", lang)
        submit(coord, "form[action$='/publish'] button")
        assert coord.find_elements(By.CSS_SELECTOR, "form[action$='/publish']") == []

        # Members receive it.
        member.get(base + "/inbox")
        titles = [e.text for e in member.find_elements(By.CSS_SELECTOR, ".cards h2")]
        assert REPORT[lang]["warn"] in titles, titles
    finally:
        member.quit()
        coord.quit()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_an_exercise_from_plan_to_after_action(hub, lang):
    base = hub["base"]
    name = f"Tabletop {lang.upper()} 2026"
    inject = {"en": f"EXERCISE {lang}: ransomware at the water plant",
              "ja": f"訓練 {lang}: 浄水場のランサムウェア"}
    banner = {"en": "Exercise running", "ja": "訓練実施中"}[lang]
    coord = browser(lang)
    member = browser(lang)
    try:
        accept_invitation(coord, hub["invite"](f"exercise-lead-{lang}@ncert.example.jp", role="analyst"),
                          f"Exercise lead {lang.upper()}")
        submit(coord)
        accept_invitation(member, hub["invite"](f"player-{lang}@water.example.jp", hub["org"]["id"]),
                          f"Player {lang.upper()}")
        submit(member)

        coord.get(base + "/exercises")
        coord.find_element(By.ID, "name").send_keys(name)
        coord.find_element(By.CSS_SELECTOR, f"input[name=participants][value='{hub['org']['id']}']").click()
        check_page(coord, "exercises", lang)
        submit(coord, "form[action='/exercises'] button")
        assert "/exercises/exercise--" in coord.current_url
        assert coord.find_elements(By.CSS_SELECTOR, ".top-banner") == []  # planned, not running
        submit(coord, "form[action$='/start'] button")
        assert banner in coord.find_element(By.CSS_SELECTOR, ".top-banner").text
        coord.find_element(By.ID, "title_en").send_keys(inject["en"])
        coord.find_element(By.ID, "summary_en").send_keys("Scenario: the plant's SCADA is encrypted.")
        coord.find_element(By.ID, "title_ja").send_keys(inject["ja"])
        coord.find_element(By.ID, "summary_ja").send_keys("想定: 浄水場の SCADA が暗号化された。")
        submit(coord, "form[action$='/inject'] button")

        # The participant sees the banner on every page and the inject marked as exercise.
        member.get(base + "/inbox")
        assert name in member.find_element(By.CSS_SELECTOR, ".top-banner").text
        card = next(c for c in member.find_elements(By.CSS_SELECTOR, ".cards .card")
                    if inject[lang] in c.text)
        assert "exercise" in card.get_attribute("class")
        assert card.find_elements(By.CSS_SELECTOR, ".badge-exercise")
        go(member, card.find_element(By.LINK_TEXT, inject[lang]))
        assert member.find_elements(By.CSS_SELECTOR, "article .exercise-banner")
        member.find_element(By.CSS_SELECTOR, "input[name=status][value=acknowledged]").click()
        submit(member, ".status-form button[type=submit]")
        member.get(base + "/public")
        assert name in member.find_element(By.CSS_SELECTOR, ".top-banner").text

        # After action: who answered, how fast; ending the exercise removes the banner.
        coord.refresh()
        check_page(coord, "exercise", lang)
        nums = [e.text for e in coord.find_elements(By.CSS_SELECTOR, ".tiles .num")]
        assert nums[:2] == ["1", "1"], nums
        submit(coord, "form[action$='/end'] button")
        assert coord.find_elements(By.CSS_SELECTOR, ".top-banner") == []
        member.get(base + "/inbox")
        assert member.find_elements(By.CSS_SELECTOR, ".top-banner") == []
    finally:
        coord.quit()
        member.quit()
