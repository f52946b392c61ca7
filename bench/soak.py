"""Soak: an hour of a session's traffic compressed into minutes, against a real
``musicgen-bridge serve`` on the tiny offline model, killed with SIGKILL at random moments.

Run from the repository root: ``python -m bench.soak [--minutes 3] [--seed 1]``.

Traffic, all at once: OSC knob moves (a few hundred a second, as a controller sweep sends),
``/musicgen/generate`` triggers, request files in the inbox (valid ones, each with its own
``client_id``, and hostile ones: garbage, deep JSON, FIFOs, symlinks to /dev/zero, 255-byte
names), and every few seconds a SIGKILL of the daemon followed by a restart on the same
journal. At the end one last daemon runs until the journal is empty and stops with SIGTERM.

Accounting (from the files, not from what the daemon says about itself):
- accepted: job ids acknowledged with /musicgen/queued, plus the job ids in requests/done/;
- clips: sidecars in the clip folder, by (job id, variation);
- duplicates: a (job id, variation) written twice, or one request file queued as two jobs;
- lost: an accepted job with no clip (jobs given up after repeated kills count as lost);
- peak memory: the largest RSS of any serve process (sampled from /proc every 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
TINY_DIR = CACHE_DIR / "tiny-model"
KNOBS = ("top_k", "top_p", "temperature", "cfg")


def _encode(address: str, *args: object) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Feedback:
    """Listens on the daemon's feedback target: job ids from /musicgen/queued."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queued: set[int] = set()
        self.pongs = 0
        self.errors: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            try:
                msg = OscMessage(data)
            except Exception:
                continue
            if msg.address == "/musicgen/queued":
                self.queued.add(int(msg.params[0]))
            elif msg.address == "/musicgen/pong":
                self.pongs += 1
            elif msg.address == "/musicgen/error":
                self.errors[str(msg.params[1])[:60]] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Daemon:
    def __init__(self, config: Path, osc_port: int, log: Path) -> None:
        self.config, self.osc_port, self.log = config, osc_port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_kb = 0
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge", "serve", "--config", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        self.starts += 1

    def sample(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.peak_kb = max(self.peak_kb, _rss_kb(self.proc.pid))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


def _hostile(folder: Path, rng: random.Random, n: int) -> None:
    kind = rng.choice(["garbage", "deep", "bigint", "fifo", "zero", "long", "keys", "bad"])
    path = folder / f"hostile-{n}.json"
    if kind == "garbage":
        path.write_bytes(rng.randbytes(rng.randrange(1, 3000)))
    elif kind == "deep":
        path.write_text("[" * 50_000 + "]" * 50_000)
    elif kind == "bigint":
        path.write_text('{"prompt": "x", "bpm": ' + "9" * 5000 + "}")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        os.symlink("/dev/zero", path)
    elif kind == "long":
        (folder / (f"{n}-" + "x" * 240 + ".json")).write_text('{"bpm": 0}')
    elif kind == "keys":
        path.write_text(json.dumps({f"k{i}": i for i in range(20_000)}))
    else:
        path.write_text(json.dumps({"prompt": "x", "bpm": 999, "bars": 1}))


def _valid(folder: Path, n: int) -> None:
    tmp = folder / f".valid-{n}.tmp"
    tmp.write_text(json.dumps({"prompt": f"soak drums {n}", "bpm": 120, "bars": 1,
                               "client_id": f"inbox-{n}", "variations": 1}))
    os.replace(tmp, folder / f"valid-{n}.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=8.0,
                        help="mean seconds between SIGKILLs")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    if not (TINY_DIR / "config.json").is_file():
        from bridge.engine.tiny_model import build_tiny_model
        build_tiny_model(TINY_DIR)
    work = CACHE_DIR / f"soak-{os.getpid()}"
    project = work / "project"
    clips = project / "MusicGen"
    requests = clips / "requests"
    requests.mkdir(parents=True)
    feedback = Feedback()
    osc_port = _free_port()
    config = work / "config.toml"
    config.write_text(
        f'[model]\nname = "{TINY_DIR}"\ndevice = "cpu"\n'
        f'[generation]\nbars = 1\nprompt = "soak"\n'
        f'[output]\nproject_dir = "{project}"\n'
        f'[queue]\njournal = "{work / "journal.jsonl"}"\nmax_pending = 1000\n'
        f'[osc]\nport = {osc_port}\nfeedback = ["127.0.0.1:{feedback.port}"]\n'
        f'[midi]\nenabled = false\n[fit]\ntempo_lock = false\n[log]\nlevel = "INFO"\n')
    daemon = Daemon(config, osc_port, work / "daemon.log")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    knob_moves = triggers = valid_files = hostile_files = kills = 0

    started = time.monotonic()
    end = started + args.minutes * 60
    next_kill = started + rng.expovariate(1 / args.kill_every)
    daemon.start()
    n = 0
    while time.monotonic() < end:
        n += 1
        daemon.sample()
        for _ in range(20):  # knob sweep: ~400 messages a second
            sender.sendto(_encode(f"/musicgen/knob/{rng.choice(KNOBS)}", rng.random()),
                          ("127.0.0.1", osc_port))
            knob_moves += 1
        if n % 25 == 0:
            sender.sendto(_encode("/musicgen/generate"), ("127.0.0.1", osc_port))
            triggers += 1
        if n % 30 == 0:
            _valid(requests, n)
            valid_files += 1
        if n % 45 == 0:
            _hostile(requests, rng, n)
            hostile_files += 1
        if time.monotonic() >= next_kill:
            daemon.kill()
            kills += 1
            time.sleep(rng.uniform(0.0, 0.5))
            daemon.start()
            next_kill = time.monotonic() + rng.expovariate(1 / args.kill_every)
        time.sleep(0.05)

    # Drain: one daemon runs until every journaled job is done, then stops cleanly.
    daemon.kill()
    daemon.start()
    journal = work / "journal.jsonl"
    drain_deadline = time.monotonic() + 600
    while time.monotonic() < drain_deadline:
        daemon.sample()
        time.sleep(0.5)
        try:
            lines = journal.read_text().splitlines()
        except OSError:
            continue
        pending = [p for p in requests.glob("*.json")]
        if len(lines) <= 1 and not pending and time.monotonic() > end + 5:
            break
    daemon.terminate()
    feedback.close()

    inbox_jobs: dict[str, set[int]] = defaultdict(set)
    done_ids: set[int] = set()
    for path in (requests / "done").glob("*.json"):
        match = re.search(r"\.job(\d+)\.json$", path.name)
        if match:
            job = int(match.group(1))
            done_ids.add(job)
            inbox_jobs[path.name.split(".job")[0]].add(job)
    written: Counter[tuple[int, int]] = Counter()
    for sidecar in clips.glob("*.json"):
        data = json.loads(sidecar.read_text())
        written[(int(data["job_id"]), int(data.get("variation", 1)))] += 1
    accepted = feedback.queued | done_ids
    with_clip = {job for job, _ in written}
    duplicates = sum(c - 1 for c in written.values() if c > 1) + \
        sum(len(jobs) - 1 for jobs in inbox_jobs.values() if len(jobs) > 1)
    lost = sorted(accepted - with_clip)
    rejected = len([p for p in (requests / "rejected").glob("*.error.txt")])
    left = [p.name for p in requests.iterdir() if p.name not in ("done", "rejected")]

    print(f"soak: {args.minutes:g} min, seed {args.seed}, {daemon.starts} daemon starts "
          f"({kills} SIGKILLs)")
    print(f"  traffic: {knob_moves} knob moves, {triggers} /musicgen/generate, "
          f"{valid_files} valid + {hostile_files} hostile request files")
    print(f"  jobs accepted: {len(accepted)}")
    print(f"  clips written: {sum(written.values())} ({len(with_clip)} jobs)")
    print(f"  duplicates: {duplicates}")
    print(f"  lost: {len(lost)}{' ' + str(lost[:20]) if lost else ''}")
    print(f"  request files refused with a reason: {rejected}; left in requests/: {len(left)}")
    print(f"  peak memory (serve RSS): {daemon.peak_kb / 1024:.0f} MB")
    return 0 if not lost and not duplicates and not left else 1


if __name__ == "__main__":
    sys.exit(main())
