#!/usr/bin/python3
"""openapi_check.py -- every REST answer a test received, against api/openapi.json

  openapi_check.py DOC CAPTURE_DIR

CAPTURE_DIR holds what lib.sh's curl wrapper recorded: one `curl --trace`
file per curl run (*.trace: every byte sent and received, in hex) and
`ports`, the shim ports of the test's servers (one a line). Every exchange
of a trace whose connection went to one of those ports is checked:

- the path is matched against the document's paths (a path the shim does
  not know: x-servicelogs-any-path); a method the path item does not have
  (POST, OPTIONS on /healthz...) is looked up in its GET operation, whose
  405 and framing answers cover every method;
- the status must be one of that operation's responses; an HTML answer
  without X-Request-Id must be one of x-servicelogs-library (the answers
  libmicrohttpd makes itself);
- every header the response documents: present when required, its value
  valid against its schema; a header the response does not document (other
  than Date, Content-Length, Content-Type, Transfer-Encoding) is an error;
- the Content-Type is one of the response's media types (or none, when it
  has no content); HEAD, 204 and 304 have no body;
- the body (de-chunked, gunzipped) validated against the media type's
  schema with python3-jsonschema (JSON Schema 2020-12, the OpenAPI 3.1
  dialect); a Server-Sent Events body event by event against
  x-servicelogs-events (an event cut off by the end of the capture is not
  checked).

An exchange cut short (no status line; a body the client stopped reading)
is checked as far as it got. Prints one line per problem (the request,
the status, what is wrong) and exits 1; prints "openapi: N answers
checked" and exits 0 otherwise.
"""
import copy
import gzip
import json
import os
import re
import sys
import zlib

import jsonschema

STANDARD_HEADERS = {"date", "content-length", "content-type",
                    "transfer-encoding"}
NO_BODY_STATUS = {204, 304}

TRACE_HEAD = re.compile(r"^(=>|<=|==) (Send|Recv|Info)(?: (header|data|SSL data))?(?:, \d+ bytes)?")
HEX_LINE = re.compile(r"^[0-9a-f]{4,}: ((?:[0-9a-f]{2} ){0,16})")
CONNECTED = re.compile(r"Connected to \S+ \(([^)]*)\) port (\d+) \(#(\d+)\)")
REUSE = re.compile(r"Re-using existing connection.*?#(\d+)")


class Exchange:
    def __init__(self, port):
        self.port = port
        self.request = b""
        self.status_lines = []
        self.headers = []      # (name, value) of the final response
        self.body = b""
        self.status = None

    def add_header_line(self, line):
        text = line.decode("latin-1").rstrip("\r\n")
        if text.startswith("HTTP/"):
            parts = text.split(" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            self.status_lines.append(text)
            self.headers = []  # a 1xx before: the final response's only
        elif text and ":" in text:
            name, value = text.split(":", 1)
            self.headers.append((name.strip().lower(), value.strip()))

    def method_target(self):
        first = self.request.split(b"\r\n", 1)[0].decode("latin-1")
        parts = first.split(" ")
        return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")

    def describe(self):
        m, t = self.method_target()
        return "%s %s -> %s" % (m, t[:200], self.status)


def parse_trace(path):
    """The exchanges of one trace file, in order."""
    conns = {}
    port = None
    out = []
    cur = None
    block = None
    data = bytearray()

    def flush():
        nonlocal data
        if block is None or cur is None:
            data = bytearray()
            return
        kind = block
        if kind == ("Send", "header"):
            cur.request += bytes(data)
        elif kind == ("Recv", "header"):
            cur.add_header_line(bytes(data))
        elif kind == ("Recv", "data"):
            cur.body += bytes(data)
        data = bytearray()

    try:
        f = open(path, "r", encoding="latin-1")
    except OSError:
        return out
    with f:
        for line in f:
            m = TRACE_HEAD.match(line)
            if m:
                flush()
                direction, what, sub = m.group(1), m.group(2), m.group(3)
                block = None
                if direction == "==":
                    info = line
                    c = CONNECTED.search(info)
                    if c:
                        conns[c.group(3)] = int(c.group(2))
                        port = int(c.group(2))
                    r = REUSE.search(info)
                    if r and r.group(1) in conns:
                        port = conns[r.group(1)]
                    continue
                if sub == "SSL data":
                    continue
                block = (what, sub)
                if block == ("Send", "header"):
                    cur = Exchange(port)
                    out.append(cur)
                continue
            h = HEX_LINE.match(line)
            if h and block is not None:
                data.extend(bytes.fromhex(h.group(1).replace(" ", "")))
        flush()
    return out


def dechunk(raw):
    """(body, complete) of a chunked body."""
    out = bytearray()
    pos = 0
    while True:
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out), False
        size_text = raw[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return bytes(out), False
        if size == 0:
            return bytes(out), True
        start = eol + 2
        if len(raw) < start + size + 2:
            out.extend(raw[start:])
            return bytes(out), False
        out.extend(raw[start:start + size])
        pos = start + size + 2


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.components = doc.get("components", {})
        self.paths = []
        for template, item in doc["paths"].items():
            if template == "/ui/{file}":
                rx = re.compile(r"^/ui(/.*)?$")
            else:
                rx = re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]*",
                                             re.escape(template)) + "$")
            self.paths.append((rx, template, item))
        self.problems = []
        self.checked = 0

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            target = self.doc
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def validate(self, schema, value):
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": self.components, "allOf": [schema]}
        v = jsonschema.Draft202012Validator(root)
        errors = sorted(v.iter_errors(value), key=lambda e: list(e.path))
        if not errors:
            return None
        best = jsonschema.exceptions.best_match(errors)
        while best.context:  # anyOf/oneOf: the branch that got furthest
            best = max(best.context, key=lambda e: len(e.absolute_path))
        where = "/".join(str(p) for p in best.absolute_path)
        return "%s (at /%s)" % (best.message[:300], where)

    def fail(self, ex, what):
        self.problems.append("%s: %s" % (ex.describe(), what))

    def responses_for(self, method, path):
        for rx, template, item in self.paths:
            if rx.match(path):
                op = item.get(method.lower()) or item.get("get")
                return template, op.get("responses", {})
        return "(any path)", self.doc.get("x-servicelogs-any-path", {})

    def check(self, ex):
        if ex.status is None:
            return  # no answer (the client left, the connection broke)
        self.checked += 1
        method, target = ex.method_target()
        path = target.split("?", 1)[0]
        headers = {}
        for name, value in ex.headers:
            if name in headers:
                self.fail(ex, "header %s sent twice" % name)
            headers[name] = value
        ctype = headers.get("content-type")
        if ("x-request-id" not in headers and ctype
                and ctype.split(";")[0].strip() == "text/html"):
            lib = self.doc.get("x-servicelogs-library", {})
            if str(ex.status) not in lib:
                self.fail(ex, "an HTML answer not in x-servicelogs-library")
            return
        template, responses = self.responses_for(method, path)
        resp = responses.get(str(ex.status)) or responses.get("default")
        if resp is None:
            self.fail(ex, "status %d is not documented for %s %s"
                      % (ex.status, method, template))
            return
        resp = self.resolve(resp)
        documented = {}
        for name, h in resp.get("headers", {}).items():
            documented[name.lower()] = self.resolve(h)
        for name, h in documented.items():
            if name not in headers:
                if h.get("required"):
                    self.fail(ex, "required header %s missing" % name)
                continue
            err = self.validate(h.get("schema", {}), headers[name])
            if err:
                self.fail(ex, "header %s: %r: %s" % (name, headers[name], err))
        for name in headers:
            if name not in documented and name not in STANDARD_HEADERS:
                self.fail(ex, "header %s is not documented" % name)
        content = resp.get("content", {})
        no_body = method == "HEAD" or ex.status in NO_BODY_STATUS
        if not content or no_body:
            if ex.body and no_body:
                self.fail(ex, "a body (%d bytes) where none may be"
                          % len(ex.body))
            if ctype and not content and not no_body:
                self.fail(ex, "Content-Type %s but no content documented"
                          % ctype)
            if not content and ex.body and not no_body:
                self.fail(ex, "a body but no content documented")
            return
        if not ctype:
            self.fail(ex, "no Content-Type")
            return
        media = self.match_media(content, ctype)
        if media is None:
            self.fail(ex, "Content-Type %s is not one of %s"
                      % (ctype, ", ".join(content)))
            return
        body, complete = self.body_of(ex, headers)
        if body is None:
            return
        mtype = ctype.split(";")[0].strip().lower()
        if mtype == "text/event-stream":
            self.check_sse(ex, media, body, complete)
            return
        if not complete:
            return  # cut short: nothing to validate whole
        if mtype == "application/json":
            try:
                value = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                self.fail(ex, "body is not JSON: %s" % e)
                return
        elif mtype.startswith("text/") or "charset=utf-8" in ctype:
            try:
                value = body.decode("utf-8")
            except UnicodeDecodeError as e:
                self.fail(ex, "body is not UTF-8: %s" % e)
                return
        else:
            return  # binary: nothing to validate
        err = self.validate(media.get("schema", {}), value)
        if err:
            self.fail(ex, "body: %s" % err)

    @staticmethod
    def match_media(content, ctype):
        norm = ";".join(p.strip().lower() for p in ctype.split(";"))
        mtype = norm.split(";")[0]
        for key, media in content.items():
            k = ";".join(p.strip().lower() for p in key.split(";"))
            if k == norm:
                return media
        for key, media in content.items():
            if ";" not in key and key.strip().lower() == mtype:
                return media
        return None

    def body_of(self, ex, headers):
        """(body, complete): the entity as sent, de-chunked and gunzipped;
        (None, False) when it cannot be read (a problem is noted)."""
        raw = ex.body
        complete = True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raw, complete = dechunk(raw)
        elif "content-length" in headers:
            n = int(headers["content-length"])
            if len(raw) > n:
                self.fail(ex, "%d body bytes after Content-Length %d"
                          % (len(raw) - n, n))
            complete = len(raw) >= n
            raw = raw[:n]
        if headers.get("content-encoding", "").lower() == "gzip":
            if not complete:
                return None, False
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as e:
                self.fail(ex, "Content-Encoding gzip, but: %s" % e)
                return None, False
        return raw, complete

    def check_sse(self, ex, media, body, complete):
        events = media.get("x-servicelogs-events", {})
        text = body.decode("utf-8", errors="replace")
        blocks = text.split("\n\n")
        if not complete or not text.endswith("\n\n"):
            blocks = blocks[:-1]  # the last one may be cut off
        for block in blocks:
            if not block:
                continue  # the end of the stream after the last event
            name, data, comment = None, [], False
            for line in block.split("\n"):
                if line.startswith(":"):
                    comment = True
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line:
                    self.fail(ex, "SSE line not documented: %r" % line[:100])
            if name is None:
                if not comment:
                    self.fail(ex, "SSE block without an event: %r" % block[:100])
                continue
            if name not in events:
                self.fail(ex, "SSE event %r is not documented" % name)
                continue
            try:
                value = json.loads("\n".join(data))
            except ValueError as e:
                self.fail(ex, "SSE event %s: data is not JSON: %s" % (name, e))
                continue
            err = self.validate(events[name], value)
            if err:
                self.fail(ex, "SSE event %s: %s" % (name, err))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    cap = sys.argv[2]
    try:
        with open(os.path.join(cap, "ports"), encoding="utf-8") as f:
            ports = {int(p) for p in f.read().split()}
    except OSError:
        ports = set()
    checker = Checker(doc)
    for name in sorted(os.listdir(cap)):
        if not name.endswith(".trace"):
            continue
        for ex in parse_trace(os.path.join(cap, name)):
            if ex.port in ports:
                checker.check(ex)
    for p in checker.problems:
        print("openapi: " + p)
    if checker.problems:
        print("openapi: %d of %d answers do not match api/openapi.json"
              % (len(checker.problems), checker.checked))
        return 1
    print("openapi: %d answers checked" % checker.checked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
