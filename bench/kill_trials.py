#!/usr/bin/env python3
"""Kill -9 trials (docs/reliability.md): a server runs a LoRA training run and an evaluation
of the embedded default model; it is killed with SIGKILL at random moments, restarted each
time, and checked after each kill:

- `PRAGMA integrity_check` is ok;
- every prediction stored before the kill is still there, unchanged;
- no job is left stuck (after the restart each is queued, running or done, never failed);

and at the end both jobs have succeeded, and the adapter and the predictions equal those of
the same two jobs run without interruption on a second data folder (exact resume).

Usage: bench/kill_trials.py BINARY [--kills 20] [--seed 1]   (stdlib only; run by bench/kill_trials.sh)
"""

import argparse
import hashlib
import http.cookiejar
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PASSWORD = "kill-trials-password"
EVAL_LIMIT = 24
TRAIN = {
    "base_model": "vlm-default",
    "dataset": "trial",
    "epochs": "1",
    "batch_size": "1",
    "save_every_steps": "1",
    "seed": "3",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary, *args, stdin=None):
    out = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def prepare(binary, data):
    """A small generated dataset, its split and an admin, made with the CLI."""
    src = os.path.join(data, "..", os.path.basename(data) + "-src")
    run(binary, "dataset", "synth", "--out", src, "--seed", "11", "--size", "96",
        "--per-category", "train=6,validation=0,good=3,logical=3,structural=3",
        "--categories", "pushpins,juice_bottle")
    run(binary, "dataset", "import", "--loco", src, "--name", "trial", "--data-dir", data)
    run(binary, "dataset", "split", "trial", "--seed", "0", "--fraction", "0.3", "--data-dir", data)
    run(binary, "user", "add", "ada", "--role", "admin", "--password-stdin", "--data-dir", data,
        stdin=PASSWORD + "\n")


class Server:
    def __init__(self, binary, data, log):
        self.binary, self.data, self.log = binary, data, log
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--addr", f"127.0.0.1:{self.port}", "--data-dir", self.data],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url("/healthz"), timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit(f"the server exited with {self.proc.returncode} (log: {self.log.name})")
                time.sleep(0.3)
        sys.exit("the server did not answer /healthz within 300 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


class Client:
    def __init__(self, server):
        self.server = server
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post(self, path, form):
        body = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.server.url(path), data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with self.opener.open(req, timeout=60) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            sys.exit(f"{path}: {e.code} {e.read().decode(errors='replace')}")

    def login(self):
        self.post("/api/login", {"username": "ada", "password": PASSWORD})


def db(data):
    con = sqlite3.connect(f"file:{os.path.join(data, 'vlm-inspect.db')}?mode=ro", uri=True)
    con.execute("PRAGMA busy_timeout = 5000")
    return con


def split_key(data):
    with db(data) as con:
        return con.execute(
            "SELECT s.key FROM splits s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = 'trial'"
        ).fetchone()[0]


def predictions(data, job):
    with db(data) as con:
        rows = con.execute(
            "SELECT image_id, prompt, verdict, explanation, raw FROM predictions WHERE job_id = ?",
            (job,)).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def jobs(data):
    with db(data) as con:
        return dict(con.execute("SELECT id, state FROM jobs WHERE kind IN ('train', 'eval')").fetchall())


def progress(data, job):
    """Durable progress of a job so far: its checkpoints and stored predictions."""
    with db(data) as con:
        return con.execute(
            "SELECT COUNT(*) FROM job_events WHERE job_id = ? AND "
            "(data LIKE '{\"kind\":\"checkpoint\"%' OR data LIKE '{\"kind\":\"prediction\"%')",
            (job,)).fetchone()[0]


def wait_progress(data, ids, since, timeout=300):
    """Waits until every job of `ids` still live has made progress past `since` (a dict)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = jobs(data)
        if all(states[i] in ("succeeded", "failed") or progress(data, i) > since[i] for i in ids):
            return
        time.sleep(0.2)
    sys.exit(f"no progress within {timeout} s: {jobs(data)}")


def launch(client, data):
    split = split_key(data)
    train = client.post("/api/admin/training/launch",
                        {f"form[{k}]": v for k, v in {**TRAIN, "split": split}.items()})
    evaluation = client.post("/api/eval/launch", {
        "form[model]": "vlm-default", "form[dataset]": "trial", "form[split]": split,
        "form[prompts]": "plain", "form[limit]": str(EVAL_LIMIT), "form[max_new_tokens]": "16"})
    return train, evaluation


def adapter_hash(data, train_job):
    """SHA-256 of the finished run's adapter weights."""
    with db(data) as con:
        result = con.execute("SELECT result FROM jobs WHERE id = ?", (train_job,)).fetchone()[0]
    found = json.loads(result)
    while "adapter" not in found:  # the result may be wrapped in its kind's tag
        found = next(v for v in found.values() if isinstance(v, dict))
    folder = found["adapter"]
    with open(os.path.join(folder, "adapter_model.safetensors"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def wait_done(data, ids, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = jobs(data)
        if all(states.get(i) in ("succeeded", "failed", "cancelled") for i in ids):
            return states
        time.sleep(1)
    sys.exit(f"jobs {ids} did not end within {timeout} s: {jobs(data)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="kill-trials-")
    print(f"work folder: {work}")

    print(f"seed {args.seed}, {args.kills} kills")
    # The uninterrupted reference.
    ref = os.path.join(work, "reference")
    prepare(args.binary, ref)
    log = open(os.path.join(work, "reference.log"), "w")
    server = Server(args.binary, ref, log)
    t = time.time()
    server.start()
    client = Client(server)
    client.login()
    ref_train, ref_eval = launch(client, ref)
    states = wait_done(ref, [ref_train, ref_eval], 3600)
    server.kill()
    uninterrupted = time.time() - t
    if states[ref_train] != "succeeded" or states[ref_eval] != "succeeded":
        sys.exit(f"the reference jobs did not succeed: {states}")
    ref_hash = adapter_hash(ref, ref_train)
    ref_predictions = predictions(ref, ref_eval)
    print(f"reference: both jobs done in {uninterrupted:.0f} s; adapter {ref_hash[:16]}…, "
          f"{len(ref_predictions)} predictions")

    # The trials.
    trial = os.path.join(work, "trial")
    prepare(args.binary, trial)
    log = open(os.path.join(work, "trial.log"), "w")
    server = Server(args.binary, trial, log)
    server.start()
    client = Client(server)
    client.login()
    train, evaluation = launch(client, trial)
    # Each kill comes at a random moment once every live job has stored something new since
    # the last start (a job killed three times in a row before any progress fails for good by
    # design: docs/reliability.md, "Crash-loop limit").
    failures, kills = [], 0
    for k in range(args.kills):
        since = {i: progress(trial, i) for i in (train, evaluation)}
        wait_progress(trial, (train, evaluation), since)
        time.sleep(rng.uniform(0.0, 2.5))
        if all(s == "succeeded" for s in (jobs(trial)[train], jobs(trial)[evaluation])):
            print(f"both jobs ended after {kills} kills; stopping early")
            break
        before = predictions(trial, evaluation)
        server.kill()
        kills += 1
        with db(trial) as con:
            integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        after = predictions(trial, evaluation)
        lost = [key for key, v in before.items() if after.get(key) != v]
        server.start()
        time.sleep(1)
        states = jobs(trial)
        stuck = [i for i in (train, evaluation) if states.get(i) == "failed"]
        ok = integrity == "ok" and not lost and not stuck
        line = (f"kill {kills:2}: integrity {integrity}, {len(before)} predictions kept "
                f"({len(lost)} lost or changed), jobs {states.get(train)}/{states.get(evaluation)}")
        print(("ok   " if ok else "FAIL ") + line, flush=True)
        if not ok:
            failures.append(line)
    states = wait_done(trial, [train, evaluation], 3600)
    server.kill()
    finished = states[train] == "succeeded" and states[evaluation] == "succeeded"
    same_adapter = finished and adapter_hash(trial, train) == ref_hash
    same_predictions = predictions(trial, evaluation) == ref_predictions
    print(f"after {kills} kills: jobs {states[train]}/{states[evaluation]}; adapter equal to the "
          f"uninterrupted run's: {same_adapter}; predictions equal: {same_predictions}")
    passed = kills - len(failures)
    print(f"RESULT {passed}/{kills} kills passed every check; exact resume: "
          f"{'yes' if same_adapter and same_predictions else 'NO'}")
    if not args.keep:
        subprocess.run(["rm", "-rf", work])
    sys.exit(0 if not failures and same_adapter and same_predictions else 1)


if __name__ == "__main__":
    main()
