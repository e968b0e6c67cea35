"""The bundled guests: the committed ROMs are their source, and the demo computes right.

The expected results are computed here in Python, independently of the guest's code, so the
demo test checks the CPU (and the guest) rather than restating the guest's own output.
"""
import shutil
import subprocess
import zlib

import pytest

from core import bench

SOURCE = bench.GUESTS / "demo.asm"


@pytest.mark.parametrize("rom, defines", [("demo.rom", []), ("bench.rom", ["-DBENCH=1"])])
def test_committed_rom_is_the_assembled_source(tmp_path, rom, defines):
    nasm = shutil.which("nasm")
    if nasm is None:
        pytest.skip("nasm is not installed (.ci/run installs it)")
    out = tmp_path / rom
    subprocess.run([nasm, "-f", "bin", *defines, "-o", str(out), str(SOURCE)], check=True)
    built = out.read_bytes()
    assert len(built) == 64 * 1024
    assert built == (bench.GUESTS / rom).read_bytes(), (
        "core/guests/%s is stale: rebuild it with nasm -f bin %s-o core/guests/%s "
        "core/guests/demo.asm" % (rom, "".join(d + " " for d in defines), rom))


def test_reset_vector_jumps_into_the_rom():
    rom = bench.DEMO_ROM.read_bytes()
    # JMP FAR ptr16:16 at F000:FFF0, to segment F000.
    assert rom[0xFFF0] == 0xEA
    assert int.from_bytes(rom[0xFFF3:0xFFF5], "little") == 0xF000


# ---------------------------------------------------------------- the expected output

SIEVE_N = 10000
FIB_N = 20
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def sieve_flags(n):
    """One byte per number below n: 1 if composite (or 0 or 1), 0 if prime."""
    flags = bytearray(n)
    flags[0] = flags[1] = 1
    for p in range(2, n):
        if p * p >= n:
            break
        if not flags[p]:
            flags[p * p::p] = b"\x01" * len(range(p * p, n, p))
    return bytes(flags)


def fib_with_calls(n):
    calls = 0

    def fib(k):
        nonlocal calls
        calls += 1
        return k if k < 2 else fib(k - 1) + fib(k - 2)

    return fib(n), calls


CPU_LINE = {"8088": "8086/8088", "8086": "8086/8088", "80186": "80186", "80286": "80286",
            "80386": "80386 or later"}


def expected_round(model):
    flags = sieve_flags(SIEVE_N)
    primes = [i for i, f in enumerate(flags) if not f]
    value, calls = fib_with_calls(FIB_N)
    rotated = ALPHABET[3:] + ALPHABET[:3]
    method = "32-bit table" if model == "80386" else "16-bit bitwise"
    return "".join([
        "cpu: %s\n" % CPU_LINE[model],
        "sieve: %d primes below %d, largest %d, sum %d\n"
        % (len(primes), SIEVE_N, primes[-1], sum(primes)),
        "fib(%d) = %d in %d calls\n" % (FIB_N, value, calls),
        "crc32 code: %s\n" % method,
        'crc32("123456789") = %08X\n' % zlib.crc32(b"123456789"),
        "crc32(sieve flags) = %08X\n" % zlib.crc32(flags),
        "rotate: %s, 'Z' at %d\n" % (rotated, rotated.index("Z")),
        "done\n",
    ])


def test_expectations_are_sane():
    # Known values, so a slip in the helpers above cannot make the guest look right.
    flags = sieve_flags(SIEVE_N)
    assert flags.count(0) == 1229
    assert fib_with_calls(20) == (6765, 21891)
    assert zlib.crc32(b"123456789") == 0xCBF43926


# ---------------------------------------------------------------- on the emulator

@pytest.fixture(scope="module")
def machine_module():
    return pytest.importorskip("core.machine", reason="the compiled core is not built")


@pytest.mark.parametrize("model", ["8088", "8086", "80186", "80286", "80386"])
def test_demo_prints_the_right_results(machine_module, model):
    result = bench.run_demo(cpu=model)
    assert result.output.decode("latin-1") == "cycle86 demo guest\n" + expected_round(model)
    assert result.reason == "stop"
    assert result.exit_status == bench.DEMO_EXIT_STATUS
    assert result.stop_reason == "isa-debug-exit 0x00"
    assert result.instructions > 300_000
    assert result.cycles > result.instructions


def test_bench_guest_repeats_the_demo_rounds(machine_module):
    # Run by cycles, not by host time, so the number of rounds does not depend on the host.
    demo_cycles = bench.run_demo(cpu="80386").cycles
    m, port = bench.make_machine(bench.BENCH_ROM.read_bytes(), cpu="80386")
    result = bench.run_machine(m, port, max_cycles=3 * demo_cycles)
    assert result.reason == "budget"
    assert port.exit_status is None                  # the benchmark never stops itself
    rounds = bench._rounds(result.output)
    assert len(rounds) >= 2
    assert all(r.decode() == expected_round("80386") for r in rounds)


def test_bench_function_reports_figures(machine_module):
    # The speed it reports is not checked: it depends on the host.
    result = bench.bench(cpu="80386", seconds=0.2)
    assert result.reason == "time"
    assert result.instructions > 0 and result.cycles > 0 and result.wall >= 0.2
    assert result.mips > 0 and result.cycles_per_second > 0
    assert result.extra["consistent"]
