"""Assemble small NASM snippets for tests (nasm from Debian; .ci/run installs it)."""
import os
import shutil
import subprocess
import tempfile

import pytest


def nasm(source, bits=16):
    """Assemble `source` (flat binary, org 0) and return the bytes."""
    exe = shutil.which("nasm")
    if exe is None:
        if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
            pytest.fail("nasm is required (apt-get install nasm)")
        pytest.skip("nasm is not installed")
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "t.asm")
        out = os.path.join(d, "t.bin")
        with open(src, "w") as f:
            f.write("bits %d\norg 0\n%s\n" % (bits, source))
        subprocess.run([exe, "-f", "bin", "-o", out, src], check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def load(machine, code, cs=0x1000, ip=0, ss=0x3000, sp=0xFFFE):
    """Place code at cs:ip and point the CPU at it with a stack at ss:sp."""
    cpu = machine.cpu
    machine.mem.write(((cs << 4) + ip) & 0xFFFFF, code)
    cpu.cs, cpu.ip, cpu.ss, cpu.sp = cs, ip, ss, sp
    return cpu
