#!/usr/bin/python3
"""metrics_check.py -- reads /metrics output with prometheus_client's parser

  metrics_check.py families FILE
      Parses FILE (Prometheus text format 0.0.4) with
      prometheus_client.parser.text_string_to_metric_families; checks every
      expected family is there with its type and help, histogram buckets
      are cumulative and end in +Inf == _count. Prints "ok" or the
      problems (exit 1).
  metrics_check.py value FILE SAMPLE [LABEL=VALUE ...]
      Prints the value of the sample (full sample name, e.g.
      servicelogs_grpc_calls_total) with exactly those labels; 0 when the
      series is absent (counters appear once non-zero). Integers print
      without a fraction.
  metrics_check.py lines FILE KIND
      Checks the access lines (JSON objects, one per line) of KIND ("http"
      or "grpc") in a log FILE: each parses and has exactly the documented
      keys. Prints "ok N" (N lines) or the problems (exit 1).
  metrics_check.py rid FILE KIND REQUEST_ID
      Prints how many access lines of KIND carry REQUEST_ID.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

# family name as the parser reports it (counters lose "_total") -> type
FAMILIES = {
    "servicelogs_grpc_calls": "counter",
    "servicelogs_grpc_call_duration_seconds": "histogram",
    "servicelogs_grpc_calls_in_flight": "gauge",
    "servicelogs_backend_errors": "counter",
    "servicelogs_http_requests": "counter",
    "servicelogs_http_request_duration_seconds": "histogram",
    "servicelogs_http_requests_in_flight": "gauge",
    "servicelogs_http_header_timeouts": "counter",
    "servicelogs_build_info": "gauge",
    "process_start_time_seconds": "gauge",
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
}

ACCESS_KEYS = ["time", "kind", "method", "path", "project_id", "service_id",
               "status", "error_code", "duration_us", "peer", "request_id"]


def parse(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # The parser is a generator: errors surface while iterating.
    return list(text_string_to_metric_families(text))


def check_histogram(fam, problems):
    series = {}
    for s in fam.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        d = series.setdefault(key, {"buckets": [], "count": None})
        if s.name.endswith("_bucket"):
            d["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            d["count"] = s.value
    if not series:
        problems.append("%s: no series" % fam.name)
    for key, d in series.items():
        b = d["buckets"]
        if not b or b[-1][0] != float("inf"):
            problems.append("%s%s: no +Inf bucket" % (fam.name, key))
            continue
        if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1]
               for i in range(len(b) - 1)):
            problems.append("%s%s: buckets not cumulative" % (fam.name, key))
        if d["count"] != b[-1][1]:
            problems.append("%s%s: _count != +Inf" % (fam.name, key))


def families(path):
    problems = []
    try:
        fams = {f.name: f for f in parse(path)}
    except Exception as e:  # the parser raises ValueError and others
        print("does not parse: %r" % e)
        return 1
    for name, typ in FAMILIES.items():
        f = fams.get(name)
        if f is None:
            problems.append("no family %s" % name)
            continue
        if f.type != typ:
            problems.append("%s: type %s, want %s" % (name, f.type, typ))
        if not f.documentation:
            problems.append("%s: no help" % name)
        if typ == "histogram":
            check_histogram(f, problems)
    bi = fams.get("servicelogs_build_info")
    if bi and not any(s.value == 1 and s.labels.get("version")
                      for s in bi.samples):
        problems.append("servicelogs_build_info: no {version} 1 sample")
    print("\n".join(problems) if problems else "ok")
    return 1 if problems else 0


def value(path, sample, labels):
    want = dict(l.split("=", 1) for l in labels)
    v = 0
    for f in parse(path):
        for s in f.samples:
            if s.name == sample and s.labels == want:
                v = s.value
    print(int(v) if float(v).is_integer() else v)
    return 0


def access_lines(path, kind):
    problems = []
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                d = json.loads(line)
            except ValueError as e:
                problems.append("not JSON: %s (%s)" % (line.strip(), e))
                continue
            if d.get("kind") != kind:
                continue
            n += 1
            if list(d.keys()) != ACCESS_KEYS:
                problems.append("keys %s in %s" % (list(d.keys()), line))
    if problems:
        print("\n".join(problems))
        return 1
    print("ok %d" % n)
    return 0


def rid(path, kind, request_id):
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("{"):
                d = json.loads(line)
                if d.get("kind") == kind and d.get("request_id") == request_id:
                    n += 1
    print(n)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "families":
        return families(argv[2])
    if len(argv) >= 4 and argv[1] == "value":
        return value(argv[2], argv[3], argv[4:])
    if len(argv) == 4 and argv[1] == "lines":
        return access_lines(argv[2], argv[3])
    if len(argv) == 5 and argv[1] == "rid":
        return rid(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
