"""A killed run says so: its status becomes "interrupted" the next time anything reads it, here
or on another machine sharing the folder, and metrics.csv keeps every finished epoch."""
import json
import os
import signal
import time
from datetime import datetime, timedelta

import pytest

from designer.core import runs
from designer.core.files import host_id

from tests.core.test_trainer import long_training_process


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_trainer_leaves_an_interrupted_run_with_every_finished_epoch(tmp_path):
    process = long_training_process(tmp_path)
    epochs = 0
    for line in process.stdout:
        epochs += json.loads(line)["event"] == "epoch"
        if epochs == 3:
            process.kill()
            break
    process.wait(timeout=60)
    run_dir = tmp_path / "run"
    on_disk = json.loads((run_dir / "run.json").read_text())
    assert on_disk["status"] == "running" and on_disk["pid"] == process.pid  # nobody said so yet
    info = runs.read_run_info(run_dir)
    assert info.status == "interrupted"
    assert info.message.startswith("the trainer stopped without finishing (killed, crashed")
    assert info.finished is not None and info.duration is not None
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert runs.read_run(run_dir)["status"] == "interrupted"
    assert list(info.curves["epoch"][:3]) == [1, 2, 3]  # flushed as each epoch ended


def run_json(folder, **fields):
    folder.mkdir()
    info = {"name": folder.name, "status": "running", "started": runs.now(), "epochs_done": 2,
            "host": host_id(), "pid": os.getpid(), "heartbeat": runs.now(), **fields}
    (folder / runs.RUN_FILE).write_text(json.dumps(info))
    return folder


def minutes_ago(minutes: float) -> str:
    return (datetime.now().astimezone() - timedelta(minutes=minutes)).isoformat()


def test_a_run_on_another_machine_is_interrupted_only_when_its_heartbeat_stops(tmp_path):
    fresh = run_json(tmp_path / "fresh", host="elsewhere", pid=1, heartbeat=minutes_ago(1))
    lost = run_json(tmp_path / "lost", host="elsewhere", pid=os.getpid(),
                    heartbeat=minutes_ago(runs.HEARTBEAT_LOST / 60 + 1))
    assert runs.read_run_info(fresh).status == "running"
    assert runs.read_run_info(lost).status == "interrupted"
    assert runs.read_run_info(lost).finished == datetime.fromisoformat(
        json.loads((lost / runs.RUN_FILE).read_text())["finished"])


def test_a_run_of_this_machine_is_interrupted_when_its_process_is_gone(tmp_path):
    pid = os.fork() if hasattr(os, "fork") else None
    if pid == 0:
        os._exit(0)
    if pid is not None:
        os.waitpid(pid, 0)
        assert runs.read_run_info(run_json(tmp_path / "gone", pid=pid)).status == "interrupted"
    assert runs.read_run_info(run_json(tmp_path / "alive")).status == "running"
    old = run_json(tmp_path / "old", heartbeat=None, host=None, pid=None,
                   started=minutes_ago(60))  # written before runs kept a heartbeat
    assert runs.read_run_info(old).status == "interrupted"
    done = run_json(tmp_path / "done", status="done", pid=1, heartbeat=minutes_ago(600))
    assert runs.read_run_info(done).status == "done"


def test_a_running_run_touches_its_run_json_however_long_an_epoch_takes(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "HEARTBEAT_EVERY", 0.05)
    log = runs.RunLog(tmp_path, {"epochs": 5})
    try:
        first = json.loads((tmp_path / runs.RUN_FILE).read_text())
        assert (first["host"], first["pid"]) == (host_id(), os.getpid())
        deadline = time.monotonic() + 30
        while json.loads((tmp_path / runs.RUN_FILE).read_text())["heartbeat"] == \
                first["heartbeat"] and time.monotonic() < deadline:
            time.sleep(0.1)  # heartbeats are whole seconds apart in ISO time
        assert json.loads((tmp_path / runs.RUN_FILE).read_text())["heartbeat"] > \
            first["heartbeat"]
        log.update(status="done")
        beat = json.loads((tmp_path / runs.RUN_FILE).read_text())["heartbeat"]
        time.sleep(1.2)
        assert json.loads((tmp_path / runs.RUN_FILE).read_text())["heartbeat"] == beat
    finally:
        log.close()
