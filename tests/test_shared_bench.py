"""The shared benchmark ROM (../shared/bench): real mode -> GDT -> 32-bit flat protected
mode, optionally paging, then integer work; its result line must equal the reference model's
and its instruction count must match the model's exact count."""
import os
import subprocess
import sys

import pytest

from core.bench import make_machine, run_machine
from tests.asm import nasm as _need_nasm  # noqa: F401  (nasm availability policy)

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "..", "shared", "bench")


def _require_bench():
    if not os.path.isfile(os.path.join(BENCH, "bench.asm")):
        if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
            pytest.fail("../shared/bench is missing")
        pytest.skip("../shared/bench is not beside this checkout")


def _build(tmp_path, iters, paging):
    import shutil
    if shutil.which("nasm") is None:
        _need_nasm("nop")          # fails or skips by the same rule as other guests
    rom = tmp_path / ("bench%d.rom" % paging)
    subprocess.run(["nasm", "-f", "bin", "-DITERS=%d" % iters, "-DPAGING=%d" % paging,
                    "-o", str(rom), os.path.join(BENCH, "bench.asm")], check=True)
    out = subprocess.run([sys.executable, os.path.join(BENCH, "model.py"), str(iters), str(paging)],
                         check=True, capture_output=True, text=True).stdout.split("\n")
    return rom.read_bytes(), out[0], int(out[1].split("=")[1])


@pytest.mark.parametrize("paging", [0, 1])
def test_bench_rom_in_protected_mode(tmp_path, paging):
    _require_bench()
    image, line, insns = _build(tmp_path, 2, paging)
    text = []
    m, port = make_machine(image, cpu="80386", memory=32 << 20, echo=text.append)
    run_machine(m, port, max_cycles=200_000_000)
    assert port.exit_status is not None, "the guest did not reach its shutdown write"
    assert line in port.text
    # The model counts every instruction through the final `out 0xF4` (a REP iteration
    # counting as one).  The machine stops at the write that completes "Shutdown" on
    # port 0x8900, six instructions earlier: jmp .sd, lodsb, test, jz, mov al, out 0xF4.
    assert m.cpu.icount == insns - 6
