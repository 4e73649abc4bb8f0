"""corrupt_db.py -- damage a servicelogs SQLite database the ways disks and
operators do, for test_corruption.sh.

usage:
  corrupt_db.py gen OUT N          an import file: project corrupt-p, services
                                   svc-0 .. svc-(N-1), 3 real-time logs each
  corrupt_db.py flip DB SERVICE    change one letter of the model_id in the
                                   stored bytes of SERVICE's first log (the
                                   log stays a valid message: only a checksum
                                   can tell), through SQLite, as an UPDATE
  corrupt_db.py unseal DB SERVICE [BREAK]
                                   store SERVICE's logs as servers before
                                   checksums did (no seal); with BREAK, also
                                   make the first one's model_id length run
                                   past its message (what a parser refuses)
  corrupt_db.py garbage DB N       overwrite the cells of N leaf pages of the
                                   logs table in the file itself with random
                                   bytes (the server must not have it open);
                                   prints how many pages it garbled
"""
import json
import random
import sqlite3
import sys


def gen(out, n):
    services = []
    for s in range(n):
        logs = [{
            "update_time": 1700000000000 + i * 1000,
            "result": "SUCCESS",
            "config": [{
                "model_id": "model-%d-%d" % (s, i), "model_name": "mnist",
                "model_version": "1.0.%d" % i, "weight": 100,
                "specification": "modelarts.vm.cpu.2u", "instance_count": 1,
                "envs": {"LOG_LEVEL": "info"},
            }],
        } for i in range(3)]
        services.append({"project_id": "corrupt-p", "service_id": "svc-%d" % s,
                         "service_name": "svc-%d" % s,
                         "infer_type": "real-time", "logs": logs})
    with open(out, "w") as f:
        json.dump({"services": services}, f)


def flip(path, service):
    db = sqlite3.connect(path)
    row = db.execute("SELECT update_time, body FROM logs WHERE service_id = ?"
                     " ORDER BY update_time, seq LIMIT 1",
                     (service,)).fetchone()
    t, body = row[0], bytearray(row[1])
    i = body.index(b"model-") + 2  # "model-" -> "mooel-": still UTF-8
    body[i] ^= 0x0b
    db.execute("UPDATE logs SET body = ? WHERE service_id = ? AND"
               " update_time = ?", (bytes(body), service, t))
    db.commit()
    db.close()


def unseal(path, service, brk):
    db = sqlite3.connect(path)
    rows = db.execute("SELECT update_time, seq, body FROM logs WHERE"
                      " service_id = ? ORDER BY update_time, seq",
                      (service,)).fetchall()
    for k, (t, seq, body) in enumerate(rows):
        assert body[-9:-4] == b"\xfd\xff\xff\xff\x0f", "no seal"
        body = bytearray(body[:-9])
        if brk and k == 0:
            i = body.index(b"model-") - 1  # the string's length byte
            body[i] = 0x7f
        db.execute("UPDATE logs SET body = ? WHERE service_id = ? AND"
                   " update_time = ? AND seq = ?",
                   (bytes(body), service, t, seq))
    db.commit()
    db.close()


def garbage(path, n):
    db = sqlite3.connect(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in db.execute(
        "SELECT pageno FROM dbstat WHERE name = 'logs' AND pagetype = 'leaf'"
        " ORDER BY pageno")]
    db.close()
    r = random.Random(8)
    chosen = pages[1:1 + n]
    with open(path, "r+b") as f:
        for pg in chosen:
            # Past the page header and the cell pointers (about 2 bytes a
            # cell, ~30 cells), so SQLite still finds rows: the cells'
            # contents become garbage.
            f.seek((pg - 1) * page_size + 200)
            f.write(bytes(r.randrange(256) for _ in range(page_size - 200)))
    print(len(chosen))


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]))
    elif cmd == "flip":
        flip(sys.argv[2], sys.argv[3])
    elif cmd == "unseal":
        unseal(sys.argv[2], sys.argv[3], len(sys.argv) > 4)
    elif cmd == "garbage":
        garbage(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
