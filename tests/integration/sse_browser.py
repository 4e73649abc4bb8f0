"""sse_browser.py -- the REST watch in a real browser's EventSource

usage: sse_browser.py WATCH_URL SECS
Serves a small page from 127.0.0.1 (its own port), opens it in headless
Chromium (Debian's chromium + chromium-driver, through python3-selenium)
and lets the page follow WATCH_URL with `new EventSource(...)`. Every event
the page receives is appended to the DOM; this script polls the DOM and
prints one line per event as it appears: "snapshot N" (N logs in it), "log
UPDATE_TIME RESULT", "error CODE" (an `event: error`) or "reconnecting"
(EventSource's own error, readyState CONNECTING). It runs for SECS seconds
or until stdin closes, then prints "done".

The page comes from another origin than the shim, and the shim sends no
CORS headers (that is issue 12's --cors-origins), so Chromium runs with
--disable-web-security; everything else -- the event-stream parser, the
framing, chunked delivery as events happen -- is the browser's own.
"""
import http.server
import json
import os
import select
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PAGE = """<!doctype html><meta charset="utf-8"><title>watch</title>
<ol id="events"></ol>
<script>
const out = document.getElementById("events");
function add(text) {
  const li = document.createElement("li");
  li.textContent = text;
  out.appendChild(li);
}
const es = new EventSource(%s);
es.addEventListener("snapshot", e => {
  add("snapshot " + JSON.parse(e.data).logs.length);
});
es.addEventListener("log", e => {
  const l = JSON.parse(e.data);
  add("log " + l.update_time + " " + l.result);
});
es.addEventListener("error", e => {
  if (e.data) add("error " + JSON.parse(e.data).error_code);
  else if (es.readyState === EventSource.CONNECTING) add("reconnecting");
});
</script>
"""


def serve(page):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    url, secs = sys.argv[1], float(sys.argv[2])
    srv = serve(PAGE % json.dumps(url))
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="sl-chromium.")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--disable-web-security",
              "--user-data-dir=" + profile):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                           options=opts)
    try:
        drv.get("http://127.0.0.1:%d/" % srv.server_port)
        print("open", flush=True)
        seen = 0
        end = time.monotonic() + secs
        while time.monotonic() < end:
            items = drv.execute_script(
                "return Array.from(document.querySelectorAll('#events li'))"
                ".map(li => li.textContent)")
            for text in items[seen:]:
                print(text, flush=True)
            seen = len(items)
            r, _, _ = select.select([sys.stdin], [], [], 0.05)
            if r and not sys.stdin.readline():
                break
    finally:
        drv.quit()
        srv.shutdown()
        os.system("rm -rf '%s'" % profile)
    print("done", flush=True)


if __name__ == "__main__":
    main()
