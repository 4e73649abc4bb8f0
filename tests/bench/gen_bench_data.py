"""gen_bench_data.py -- import files for the backend and import benchmarks.

usage: gen_bench_data.py OUT_PREFIX N_SERVICES LOGS_PER_SERVICE SERVICES_PER_FILE
Writes OUT_PREFIX-0.json, -1.json, ...: project bench-p, services svc-0 ..,
each real-time with LOGS_PER_SERVICE logs shaped like the spec's example.
Each file is written one service at a time (memory does not grow with the
file): `gen_bench_data.py /tmp/big 100000 10 100000` writes the 1 000 000
logs of tests/bench/bench_import.sh as one file (about 330 MB).
"""
import json
import sys

prefix, nsvc, nlogs, per_file = sys.argv[1], *map(int, sys.argv[2:5])


def service(s):
    logs = [{
        "update_time": 1700000000000 + i * 1000,
        "result": "SUCCESS",
        "config": [{
            "model_id": "model-%d" % s, "model_name": "mnist",
            "model_version": "1.0.%d" % i, "weight": 100,
            "specification": "modelarts.vm.cpu.2u", "instance_count": 1,
            "envs": {"LOG_LEVEL": "info"},
        }],
    } for i in range(nlogs)]
    return {"project_id": "bench-p", "service_id": "svc-%d" % s,
            "service_name": "svc-%d" % s,
            "infer_type": "real-time", "logs": logs}


for f, start in enumerate(range(0, nsvc, per_file)):
    with open("%s-%d.json" % (prefix, f), "w") as out:
        out.write('{"services": [')
        for s in range(start, min(nsvc, start + per_file)):
            if s > start:
                out.write(", ")
            out.write(json.dumps(service(s)))
        out.write("]}")
