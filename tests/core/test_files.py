"""Saving keeps the place tidy: a kill at any moment leaves the old file or the new one, the
temporary files of killed writers go away on the next save or open, and permissions are the
user's."""
import os
import random
import signal
import stat
import time

import pytest

from designer.core import files
from designer.core.files import atomic_path, atomic_write, check_writable, temp_name
from designer.core.project import Project, load

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")


def layered(name: str, layers: int = 300) -> Project:
    project = Project(name=name)
    net = project.networks[0]
    previous = net.add("Input", Size=[8], Dataset="x")
    for _ in range(layers):
        layer = net.add("Affine", OutShape=[8])
        net.connect(previous, layer)
        previous = layer
    net.connect(previous, net.add("SquaredError"))
    return project


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if files.TEMP_MARK in p.name)


def dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "p.nnd"
    versions = [layered("old"), layered("new")]
    texts = {p.to_json() for p in versions}
    versions[0].save(path)
    rng = random.Random(0)
    left = attempt = 0
    # at least 40 kills, and on until one has landed inside a write (about half do; a busy
    # machine may starve the child for a while)
    while attempt < 40 or not left:
        assert attempt < 400, "no kill landed inside a write"
        attempt += 1
        started_read, started_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child saves the two versions in turn until it is killed
            try:
                os.write(started_write, b"1")
                while True:
                    for project in versions:
                        project.save(path)
            finally:
                os._exit(1)
        os.read(started_read, 1)
        os.close(started_read)
        os.close(started_write)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert path.read_text() in texts, f"kill {attempt} left a damaged file"
        left += len(leftovers(tmp_path))
    versions[0].save(path)  # the next save removes what the killed saves left
    assert leftovers(tmp_path) == [] and path.read_text() == versions[0].to_json()


def test_a_writer_killed_inside_its_write_leaves_a_file_the_next_open_removes(tmp_path):
    path = tmp_path / "p.nnd"
    layered("kept", 3).save(path)
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            with atomic_path(path) as tmp:
                tmp.write_text("half")
                os.write(ready_write, b"1")
                time.sleep(60)
        finally:
            os._exit(1)
    os.read(ready_read, 1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert len(leftovers(tmp_path)) == 1  # the kill left it behind ...
    assert load(path).name == "kept"
    assert leftovers(tmp_path) == []  # ... and opening the project removed it


def test_only_this_apps_temporary_files_of_gone_writers_are_removed(tmp_path):
    target = tmp_path / "p.nnd"
    own = files.host_id()
    dead = tmp_path / f".p.{files.TEMP_MARK}-{own}-{dead_pid()}-0123abcd.nnd"
    alive = tmp_path / f".p.{files.TEMP_MARK}-{own}-{os.getppid()}-0123abcd.nnd"
    foreign_old = tmp_path / f".q.{files.TEMP_MARK}-ffffffff-12-0123abcd.nnd"
    foreign_new = tmp_path / f".r.{files.TEMP_MARK}-ffffffff-12-0123abcd.nnd"
    users = [tmp_path / ".p.nnd.swp", tmp_path / ".notes", tmp_path / f".{files.TEMP_MARK}"]
    for path in [dead, alive, foreign_old, foreign_new, *users]:
        path.write_text("x")
    day_ago = time.time() - files.FOREIGN_TEMP_AGE - 60
    os.utime(foreign_old, (day_ago, day_ago))
    atomic_write(target, "saved")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in [target, alive, foreign_new, *users])


def test_a_saved_file_keeps_its_permissions_and_a_new_one_gets_the_users(tmp_path):
    path = tmp_path / "p.nnd"
    previous = os.umask(0o027)
    try:
        layered("new", 2).save(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640  # not mkstemp's 0600
        os.umask(0o022)
        layered("again", 2).save(tmp_path / "q.nnd")
        assert stat.S_IMODE((tmp_path / "q.nnd").stat().st_mode) == 0o644
    finally:
        os.umask(previous)
    path.chmod(0o664)
    layered("changed", 2).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    with atomic_path(path) as tmp:  # a writer that replaces the file it was given
        tmp.unlink()
        tmp.write_bytes(b"{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


def test_checking_a_folder_for_writing_leaves_nothing(tmp_path):
    check_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert temp_name(tmp_path / "model.onnx").endswith(".onnx")
    if os.geteuid() != 0:  # root may write anywhere
        tmp_path.chmod(0o500)
        try:
            with pytest.raises(OSError):
                check_writable(tmp_path)
        finally:
            tmp_path.chmod(0o700)
