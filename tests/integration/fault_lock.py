"""fault_lock.py -- another process that locks the SQLite file the server
reads, for test_faults.sh. It holds its lock until RELEASE_FILE exists (or
MAX_SECS pass), then lets go.

usage: fault_lock.py MODE DB RELEASE_FILE MAX_SECS
  writer     a normal SQLite writer: BEGIN IMMEDIATE and a pending INSERT
             (the WAL write lock; readers are not blocked by it)
  exclusive  PRAGMA locking_mode=EXCLUSIVE, then BEGIN IMMEDIATE with a 1 s
             busy timeout: the lock that would shut readers out, if it can
             be taken while the server holds the file open
  shm        fcntl write locks on every WAL lock byte of DB-shm (offsets
             120..127: the write, checkpoint and recovery locks and all five
             read marks): what a stuck or hostile process can do; SQLite's
             readers then cannot start a read transaction
prints "locked" once it holds the lock (or "refused: <why>" and exits 1),
then "released".
"""
import fcntl
import os
import sqlite3
import sys
import time


def hold(release, max_secs):
    print("locked", flush=True)
    end = time.monotonic() + max_secs
    while not os.path.exists(release) and time.monotonic() < end:
        time.sleep(0.02)


def main():
    mode, db, release, max_secs = sys.argv[1:5]
    max_secs = float(max_secs)
    if mode == "shm":
        fd = os.open(db + "-shm", os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120)
        except OSError as e:
            print("refused: %s" % e, flush=True)
            sys.exit(1)
        hold(release, max_secs)
        os.close(fd)  # drops the locks
    else:
        c = sqlite3.connect(db, isolation_level=None,
                            timeout=1.0 if mode == "exclusive" else 0.5)
        try:
            if mode == "exclusive":
                c.execute("PRAGMA locking_mode=EXCLUSIVE")
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO meta(key, value)"
                      " VALUES('fault_lock_pending', 1)")
        except sqlite3.Error as e:
            print("refused: %s" % e, flush=True)
            sys.exit(1)
        hold(release, max_secs)
        c.execute("ROLLBACK")  # the pending write never lands
        c.close()
    print("released", flush=True)


if __name__ == "__main__":
    main()
