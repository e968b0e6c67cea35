"""The fuzz harness in its short form (docs/fuzzing.md): every target for a few cases,
each case in a child process; none may end in a bug.  And the harness itself: a child
that aborts or hangs is counted against the case it was running, with a reproducer.

The same test is a long campaign when asked: CYCLE86_FUZZ_SCALE=N runs N blocks of each
target's cases (one test each, so pytest-xdist spreads them: `pytest -n 8`), from the
seed CYCLE86_FUZZ_SEED (default 0); reproducers of failures go to traces/fuzz/.
"""
import hashlib
import json
import os

import pytest

from tests.asm import nasm
from tests.fuzz import BUGS, CRASH, HANG, OK
from tests.fuzz import files as fuzz_files
from tests.fuzz import runner

# Cases per target: about a minute together on one core.
SHORT = {"cpu": 40, "ports": 6, "dma": 6, "files": 60, "gdb": 3}
SCALE = int(os.environ.get("CYCLE86_FUZZ_SCALE", "1"))
FIRST_SEED = int(os.environ.get("CYCLE86_FUZZ_SEED", "0"))


@pytest.mark.parametrize("target,block", [(t, k) for t in sorted(SHORT) for k in range(SCALE)])
def test_short_campaign_has_no_bugs(target, block, tmp_path):
    first = FIRST_SEED + block * SHORT[target]
    out = runner.DEFAULT_OUT if SCALE > 1 else tmp_path
    camp = runner.run_campaign([target], first, SHORT[target], jobs=1, batch=SHORT[target],
                               timeout=120, out=out)
    summary = camp.summary()
    assert summary["bugs"] == [], json.dumps(summary, indent=1)
    assert sum(summary["cases"].values()) == SHORT[target]
    if target == "cpu":
        assert summary["counts"]["insns"] > 1_000_000
    if target == "ports":
        assert summary["counts"]["port_ops"] > 1000


def test_a_crash_and_a_hang_are_counted_with_reproducers(tmp_path):
    # Seeds 0..5 of the self-test target: 1 and 4 abort, 2 and 5 spin for ever.
    results = runner.run_batch("_selftest", 0, 6, timeout=3)
    by_seed = {r["seed"]: r["outcome"] for r in results}
    assert by_seed == {0: OK, 1: CRASH, 2: HANG, 3: OK, 4: CRASH, 5: HANG}
    assert "SIGABRT" in next(r["detail"] for r in results if r["seed"] == 1)
    camp = runner.Campaign(tmp_path)
    camp.add("_selftest", results)
    readme = (tmp_path / "_selftest-2-hang" / "README.txt").read_text()
    assert "python -m tests.fuzz case _selftest 2" in readme
    assert sorted(r["outcome"] for _, r, _ in camp.bugs) == [CRASH, CRASH, HANG, HANG]
    assert all(o in BUGS for o in (CRASH, HANG))


# A boot sector that writes LBA 0 and 1 of the primary master by ATA PIO (WRITE SECTORS,
# 30h) and then tells the Bochs shutdown port it is done: the guest asks for its disk to
# change; without --commit the image file must not.
WRITER = """
    cli
    mov dx, 0x1F6
    mov al, 0xE0
    out dx, al
    mov dx, 0x1F2
    mov al, 2
    out dx, al
    xor al, al
    mov dx, 0x1F3
    out dx, al
    inc dx
    out dx, al
    inc dx
    out dx, al
    mov dx, 0x1F7
    mov al, 0x30
    out dx, al
    mov bx, 2
.sector:
    mov dx, 0x1F7
.wait:
    in al, dx
    test al, 0x08
    jz .wait
    mov cx, 256
    mov dx, 0x1F0
    mov ax, 0xC0DE
.word:
    out dx, ax
    loop .word
    dec bx
    jnz .sector
    mov dx, 0x1F7
.busy:
    in al, dx
    test al, 0x80
    jnz .busy
    mov dx, 0x8900
    mov si, bye
    mov cx, 8
.bye:
    lodsb
    out dx, al
    loop .bye
    hlt
bye: db "Shutdown"
times 510-($-$$) db 0
dw 0xAA55
"""


@pytest.mark.parametrize("commit", [False, True])
def test_a_disk_image_is_byte_identical_after_a_run_without_commit(commit, tmp_path):
    sector = bytearray(nasm(WRITER.replace("mov si, bye", "mov si, 0x7C00 + bye")))
    image = tmp_path / "hd.img"
    image.write_bytes(bytes(sector) + bytes(512 * 63))
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    argv = ["run", "--machine", "pc", "--hda", image, "--boot", "disk",
            "--max-cycles", 400_000_000] + (["--commit"] if commit else [])
    status, err = fuzz_files.cli(argv)
    assert status == 0, err
    data = image.read_bytes()
    if commit:
        # The same run with --commit does write: the check above can see a change.
        assert data[:1024] == bytes.fromhex("dec0") * 512
    else:
        assert hashlib.sha256(data).hexdigest() == before


def test_reproducer_command_reruns_the_case(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "tests.fuzz", "case", "cpu", "7"],
                         cwd=str(runner.ROOT), capture_output=True, text=True, check=True,
                         env=dict(__import__("os").environ, PYTHONPATH=str(runner.ROOT)))
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    again = runner.run_batch("cpu", 7, 1)
    assert lines[-1]["insns"] == again[0]["insns"] > 0
