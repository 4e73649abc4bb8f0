"""ui_browser.py -- the timeline page (web/, docs/ui.md) in a real browser

usage: ui_browser.py --http URL --grpc ADDR --cli PATH --pid PID
                     --https URL --spki HASH --token T --other-token T
                     --shots DIR [--shots DIR ...]
Drives headless Chromium (Debian's chromium + chromium-driver, through
python3-selenium) over the page served by two real servers on one SQLite
file: --http (no tokens; its gRPC port --grpc is where the CLI records)
and --https (TLS, --auth-tokens; --token reads demo-project,
--other-token another project). Chromium trusts the HTTPS server's key
by its SPKI hash (--ignore-certificate-errors-spki-list: that one key,
not every certificate error). What the page shows is read from its DOM.
Prints "ok: NAME" or "FAIL: NAME: ..." per check (test_ui_browser.sh
counts them), saves mnist.png, mnist-live.png and edge.png into every
--shots DIR, and at the end sends SIGTERM to --pid (the --http server)
to see the page say it is reconnecting.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

P = "demo-project"
A = argparse.ArgumentParser()
for f in ("http", "grpc", "cli", "pid", "https", "spki", "token",
          "other-token"):
    A.add_argument("--" + f, required=True)
A.add_argument("--shots", action="append", default=[])
ARGS = A.parse_args()
FAILS = 0


T0 = time.monotonic()


def ok(name, good, detail=""):
    global FAILS
    print("%5.1f s %s" % (time.monotonic() - T0, name), file=sys.stderr)
    if good:
        print("ok: " + name, flush=True)
    else:
        FAILS += 1
        print("FAIL: %s: %s" % (name, detail), flush=True)


def check(name, want, got):
    ok(name, want == got, "want %r got %r" % (want, got))


def contains(name, needle, hay):
    ok(name, needle in (hay or ""), "%r lacks %r" % (hay, needle))


def until(fn, secs):
    """fn() until it is truthy or secs pass; (the last value, seconds)."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v or time.monotonic() - t0 >= secs:
            return v, time.monotonic() - t0
        time.sleep(0.05)


def record(t, result, version="2.0.0"):
    log = {"update_time": t, "result": result, "config": [{
        "model_id": "m3", "model_name": "mnist", "model_version": version,
        "weight": 100, "specification": "modelarts.vm.cpu.2u",
        "instance_count": 1}]}
    subprocess.run([ARGS.cli, "record", "--addr", ARGS.grpc, "--project", P,
                    "--service", "mnist-svc", "-"], input=json.dumps(log),
                   text=True, check=True, stdout=subprocess.DEVNULL)


# What a page shows: one JSON object read in one script.
STATE = """
const q = (s, e) => Array.from((e || document).querySelectorAll(s));
const err = document.getElementById('error');
return {
  cards: q('#timeline .card').map(c => ({
    time: c.dataset.time, result: c.dataset.result,
    badge: c.querySelector('.badge').textContent,
    busy: c.getAttribute('aria-busy'),
    utc: c.querySelector('.utc').textContent,
    summary: (c.querySelector('.summary') || {}).textContent || '',
    marks: q('mark.changed', c).map(m => m.textContent),
    segs: q('.bar .seg', c).map(s => [s.textContent,
      Math.round(100 * s.getBoundingClientRect().width /
                 c.querySelector('.bar').getBoundingClientRect().width)]),
    rest: (c.querySelector('.bar .rest') || {}).textContent || '',
    counts: (c.querySelector('.counts') || {}).textContent || '',
    nodes: q('table.nodes tbody tr', c).map(r =>
      q('th,td', r).map(x => x.textContent)),
    selected: c.classList.contains('selected'),
    focused: c.contains(document.activeElement),
  })),
  error: err.hidden ? '' : err.textContent,
  status: document.getElementById('status').textContent,
  active: document.activeElement.id,
};
"""


def state(drv):
    return drv.execute_script(STATE)


def ncards(drv, n):
    return lambda: len(state(drv)["cards"]) == n


def shot(drv, name):
    drv.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    for d in ARGS.shots:
        os.makedirs(d, exist_ok=True)
        drv.save_screenshot(os.path.join(d, name))


# Every control named and reachable: read from the page itself.
A11Y = """
const bad = [];
const named = e => (e.labels && Array.from(e.labels).some(l => l.textContent.trim()))
  || (e.getAttribute('aria-label') || '').trim()
  || (e.getAttribute('aria-labelledby') || '').split(' ').some(i =>
       document.getElementById(i) && document.getElementById(i).textContent.trim())
  || (e.tagName !== 'INPUT' && e.textContent.trim());
for (const e of document.querySelectorAll('input, button, select, textarea, a[href]')) {
  const id = e.id || e.tagName + ':' + e.textContent.trim().slice(0, 20);
  if (!named(e)) bad.push(id + ' has no accessible name');
  if (e.tabIndex < 0 || e.disabled) bad.push(id + ' is not focusable');
}
if (!document.documentElement.lang) bad.push('no lang on <html>');
if (!document.querySelector('h1')) bad.push('no h1');
for (const th of document.querySelectorAll('th'))
  if (!th.scope) bad.push('a th without scope: ' + th.textContent);
return bad;
"""


def tab_order(drv, n):
    """The ids (or link texts) focused by n presses of Tab from the top."""
    # A click on the heading: where the next Tab starts from.
    drv.find_element("tag name", "h1").click()
    seen = []
    for _ in range(n):
        ActionChains(drv).send_keys(Keys.TAB).perform()
        seen.append(drv.execute_script(
            "const e = document.activeElement; return e.id || "
            "(e.closest('.card') ? 'card:' + e.closest('.card').dataset.time"
            " : e.tagName)"))
    return seen


def run(drv):
    H, S = ARGS.http, ARGS.https
    ui = lambda base, svc, extra="": "%s/ui/?project=%s&service=%s%s" % (
        base, P, svc, extra)

    # ---- the real-time service: cards, results, weights, changes -------
    drv.get(ui(H, "mnist-svc"))
    until(ncards(drv, 2), 15)
    st = state(drv)
    check("mnist: two cards", 2, len(st["cards"]))
    if len(st["cards"]) != 2:
        return
    new, old = st["cards"]
    check("mnist: newest first", ["1700000000000", "123432423"],
          [new["time"], old["time"]])
    check("mnist: results", ["RUNNING", "SUCCESS"],
          [new["result"], old["result"]])
    contains("RUNNING: shown in progress, in words", "In progress",
             new["badge"])
    check("RUNNING: aria-busy", "true", new["busy"])
    contains("SUCCESS: in words", "SUCCESS", old["badge"])
    contains("time in UTC", "1970-01-02 10:17:12.423 UTC", old["utc"])
    check("weight bar: two segments, 70/30", [["70%", 70], ["30%", 30]],
          new["segs"])
    check("weight bar of 70 alone: one segment", [["70%", 70]], old["segs"])
    check("weight bar: the unassigned rest", "30% unassigned", old["rest"])
    contains("changes: the new model", "mnist 1.1.0 added", new["summary"])
    contains("changes: the envs key", "envs +LOG_LEVEL", new["summary"])
    check("changes: highlighted", ["+ LOG_LEVEL=info", "new"],
          sorted(new["marks"]))
    contains("status: live", "Live", st["status"])
    shot(drv, "mnist.png")

    # ---- labels, focus, keyboard ---------------------------------------
    check("every control named and focusable", [],
          drv.execute_script(A11Y))
    check("Tab order: the form, then the cards",
          ["project", "service", "token", "show", "card:1700000000000",
           "card:123432423"], tab_order(drv, 6))
    drv.execute_script("document.querySelector('.card a').focus()")
    ActionChains(drv).send_keys(Keys.ARROW_DOWN).perform()
    check("Down arrow: the next card", "123432423", drv.execute_script(
        "return document.activeElement.closest('.card').dataset.time"))

    # ---- live: a RUNNING card appears, then turns SUCCESS ------------------
    UT = 1800000000000
    record(UT, "RUNNING")
    got, secs = until(lambda: (state(drv)["cards"] or [{}])[0].get("time")
                      == str(UT), 2)
    ok("live: the RUNNING card within 2 s", got, "after %.1f s" % secs)
    st = state(drv)
    check("live: three cards, the new one RUNNING", (3, "RUNNING"),
          (len(st["cards"]), st["cards"][0]["result"]))
    c = st["cards"][0]
    contains("live: the version change", "mnist model version 1.0.1 → 2.0.0",
             c["summary"])
    contains("live: the weight change", "mnist weight 70 → 100", c["summary"])
    contains("live: the envs key gone", "mnist envs −LOG_LEVEL", c["summary"])
    contains("live: the model it replaced", "mnist 1.1.0 removed",
             c["summary"])
    check("live: version and weight highlighted", ["100%", "2.0.0"],
          sorted(c["marks"]))
    record(UT, "SUCCESS")
    got, secs = until(lambda: state(drv)["cards"][0]["result"] == "SUCCESS",
                      2)
    ok("live: the card turns SUCCESS within 2 s", got, "after %.1f s" % secs)
    st = state(drv)
    check("live: replaced, not added", (3, str(UT), None),
          (len(st["cards"]), st["cards"][0]["time"], st["cards"][0]["busy"]))
    check("live: one segment at 100%", [["100%", 100]], st["cards"][0]["segs"])
    shot(drv, "mnist-live.png")

    # ---- the edge service: counts and the node table ---------------------
    drv.get(ui(H, "edge-svc"))
    until(ncards(drv, 1), 15)
    st = state(drv)
    check("edge: one card, FAIL", [("1700000100000", "FAIL")],
          [(c["time"], c["result"]) for c in st["cards"]])
    if st["cards"]:
        c = st["cards"][0]
        check("edge: counts", "✔ 1 succeeded · ✘ 1 failed", c["counts"])
        check("edge: the node table, failed first",
              [["gate-b", "node-02", "deploy", "✘ failed"],
               ["gate-a", "node-01", "deploy", "✔ succeeded"]], c["nodes"])
        check("edge: no weight bar", [], c["segs"])
    shot(drv, "edge.png")

    # ---- deep link, errors, the form --------------------------------------
    drv.get(ui(H, "mnist-svc", "&update_time=123432423"))
    until(ncards(drv, 3), 15)
    sel = [(c["time"], c["focused"]) for c in state(drv)["cards"]
           if c["selected"]]
    check("deep link: that update selected and focused",
          [("123432423", True)], sel)
    drv.get(ui(H, "mnist-svc", "&update_time=42"))
    st, _ = until(lambda: "No update at" in state(drv)["status"] and
                  state(drv), 10)
    st = st or state(drv)
    contains("deep link to no update: said so",
             "No update at update_time 42", st["status"])
    check("deep link to no update: the whole history", 3, len(st["cards"]))
    drv.get(ui(H, "no-such-svc"))
    st, _ = until(lambda: state(drv)["error"] and state(drv), 10)
    st = st or state(drv)
    contains("unknown service: the 404 sentence",
             "There is no service “no-such-svc” in project “demo-project”",
             st["error"])
    contains("unknown service: the code", "HTTP 404 · ModelArts.3502",
             st["error"])
    check("unknown service: no cards", 0, len(st["cards"]))
    drv.get(ui(H, "batch-svc"))
    st, _ = until(lambda: state(drv)["error"] and state(drv), 10)
    st = st or state(drv)
    contains("batch service: why it has no logs",
             "is a batch service, so it has no update logs", st["error"])
    contains("batch service: the code", "HTTP 400 · ModelArts.2858",
             st["error"])
    svc = drv.find_element("id", "service")
    svc.clear()
    svc.send_keys("edge-svc", Keys.ENTER)
    got, _ = until(ncards(drv, 1), 10)
    ok("the form: Enter shows the service typed", got, state(drv))
    contains("the form: the URL follows", "service=edge-svc",
             drv.current_url)

    # ---- HTTPS and tokens ---------------------------------------------------
    drv.get(ui(S, "mnist-svc"))
    st, _ = until(lambda: state(drv)["error"] and state(drv), 15)
    st = st or state(drv)
    contains("no token: the 401 sentence", "checks tokens and none was sent",
             st["error"])
    contains("no token: the code", "HTTP 401 · ModelArts.0201", st["error"])
    check("no token: focus on the token field", "token", st["active"])

    def submit(token):
        f = drv.find_element("id", "token")
        f.clear()
        f.send_keys(token, Keys.ENTER)

    for tok, sent, code in (
            ("wrong-token", "does not accept this token",
             "HTTP 401 · ModelArts.0203"),
            (ARGS.other_token, "not valid for project “demo-project”",
             "HTTP 403 · ModelArts.0210")):
        drv.execute_script("document.getElementById('error').hidden = true")
        submit(tok)
        st, _ = until(lambda: code in state(drv)["error"] and state(drv), 10)
        st = st or state(drv)
        contains("token %s: the sentence" % code[-4:], sent, st["error"])
        contains("token %s: the code" % code[-4:], code, st["error"])
    submit(ARGS.token)
    got, _ = until(ncards(drv, 3), 15)
    ok("the right token over HTTPS: the cards", got, state(drv))
    check("the token kept in sessionStorage", ARGS.token, drv.execute_script(
        "return sessionStorage.getItem('servicelogs.token')"))
    drv.refresh()
    got, _ = until(ncards(drv, 3), 15)
    ok("reloaded: the token still sent", got, state(drv))
    record(UT + 1000, "RUNNING", "2.1.0")
    got, secs = until(lambda: (state(drv)["cards"] or [{}])[0].get("time")
                      == str(UT + 1000), 2)
    ok("HTTPS with a token: live within 2 s", got, "after %.1f s" % secs)

    # ---- a lost connection: the page says it reconnects -------------------
    drv.get(ui(H, "mnist-svc"))
    until(ncards(drv, 4), 15)
    os.kill(int(ARGS.pid), signal.SIGTERM)
    st, _ = until(lambda: "Reconnecting" in state(drv)["status"] and
                  state(drv), 15)
    st = st or state(drv)
    contains("server gone: the page says it reconnects", "Reconnecting…",
             st["status"])
    contains("server gone: why", "shutting down", st["status"])
    check("server gone: the cards stay", 4, len(st["cards"]))


def main():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="sl-chromium.")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1000,1300",
              "--ignore-certificate-errors-spki-list=" + ARGS.spki,
              "--user-data-dir=" + profile):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                           options=opts)
    try:
        run(drv)
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
