"""The hardware-captured conformance suites, and the runner that checks the CPU against them.

test_opcode_file runs every opcode file of the shared 8086 and 80286 subsets on the real CPU
(one pytest test per file, ids like 8086-F6.7).  The other tests check the loaders on the real
files and the comparison logic against an oracle machine that replays the hardware's answers,
so a runner bug cannot hide behind a CPU bug or the other way round.

The data lives outside the repo in ../shared/conformance (CYCLE86_CONFORMANCE overrides).
Without it these tests skip, unless CYCLE86_REQUIRE_SHARED=1 (CI), where they fail.
"""
import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys
import types
from pathlib import Path

import pytest

from core import conformance as cf
from core.conformance import ConformanceError

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CYCLE86_CONFORMANCE") or ROOT.parent / "shared" / "conformance")
REQUIRE = os.environ.get("CYCLE86_REQUIRE_SHARED") == "1"
SUITE_DIRS = {"8086": SHARED / "8086", "80286": SHARED / "80286" / "real_mode"}


def _absent(what):
    reason = f"{what} not found (expected the shared conformance data at {SHARED})"
    if REQUIRE:
        pytest.fail(reason + "; CYCLE86_REQUIRE_SHARED=1 makes this an error")
    pytest.skip(reason)


def need(path):
    """The path to a shared data file or directory, or skip/fail when it is absent."""
    if not Path(path).exists():
        _absent(str(path))
    return str(path)


_SUITES = {}


def suite(name):
    if name not in _SUITES:
        _SUITES[name] = cf.open_suite(need(SUITE_DIRS[name]))
    return _SUITES[name]


def _file_params():
    params = []
    for name, directory in SUITE_DIRS.items():
        if not directory.is_dir():
            params.append(pytest.param(name, None, id=f"{name}-missing"))
            continue
        for sfile in suite(name).files:
            params.append(pytest.param(name, sfile, id=f"{name}-{sfile.key}"))
    return params


_RUNNER = None


def cpu_runner():
    # One Runner for the whole session: it builds one Machine per model and reuses it.
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = cf.Runner()
    return _RUNNER


@pytest.mark.parametrize("suite_name,sfile", _file_params())
def test_opcode_file(suite_name, sfile):
    if sfile is None:
        _absent(f"suite directory {SUITE_DIRS[suite_name]}")
    result = cpu_runner().run_file(sfile, suite(suite_name))
    assert result.total > 0
    assert result.failed == 0, (
        f"{result.failed}/{result.total} tests fail; first: {result.first_failure.describe()}")


# --------------------------------------------------------------------------------------------
# Loaders on the real files.

def test_json_loader_reads_the_8086_file():
    f = cf.load_file(need(SHARED / "8086" / "90.json.gz"))
    assert (f.opcode, f.reg, f.fmt, f.key) == ("90", None, "json", "90")
    assert len(f) == 200 and f.default_model == "8086" and f.end == "step"
    assert f.mnemonic == "nop"
    t = f.tests[0]
    assert t.name == "nop" and list(t.bytes) == [0x90]
    assert set(t.initial_regs) == set(cf.REGS16)
    assert t.initial_regs["ip"] == 51157 and t.final_regs == {"ip": 51158}
    assert [tuple(p) for p in t.initial_ram][0] == (701045, 0x90)
    assert t.cycle_count == len(t.cycles) == 3
    assert t.cycles[0][9] == "F"                      # the trace opens with the first byte
    assert re.fullmatch(r"[0-9a-f]{64}", t.hash)
    assert [x.index for x in f.tests] == list(range(200))
    assert t.initial_queue == [0x90] * 5 and t.exception is None


def test_json_loader_group_file_name():
    f = cf.load_file(need(SHARED / "8086" / "F6.7.json.gz"))
    assert (f.opcode, f.reg, f.key, f.mnemonic) == ("F6", 7, "F6.7", "idiv")


def test_8086_interrupts_are_recognised_from_the_ivt_read():
    # The 8086 suite has no EXCP record; divide errors land at the vector 0 handler 0000:0400.
    f = cf.load_file(need(SHARED / "8086" / "F6.7.json.gz"))
    taken = [t for t in f.tests if t.exception is not None]
    assert taken and all(t.exception.number == 0 and t.exception.flag_address is None
                         for t in taken)
    assert {t.final_regs["ip"] for t in taken} == {0x400}
    assert all(t.final_regs.get("ip") != 0x400 for t in f.tests if t.exception is None)
    ints = cf.load_file(need(SHARED / "8086" / "CD.json.gz"))
    assert all(t.exception is not None and t.exception.number == t.bytes[-1]
               for t in ints.tests)
    assert all(t.exception is None for t in cf.load_file(need(SHARED / "8086" / "00.json.gz")).tests)


def test_moo_loader_reads_the_80286_file():
    f = cf.load_file(need(SHARED / "80286" / "real_mode" / "00.MOO.gz"))
    assert f.fmt == "moo" and f.cpu_id == b"C286" and f.version == (1, 0)
    assert f.meta["cpu_type"] == 6 and f.meta["mnemonic"] == "add"
    assert f.default_model == "80286" and f.end == "halt"
    assert len(f) == 200 and [t.index for t in f.tests] == list(range(200))
    t = f.tests[0]
    assert t.name == "add [bx+0Eh],bl"
    assert list(t.bytes) == [0x00, 0x5F, 0x0E, 0xF4]   # BYTS ends with the generator's HLT
    assert set(t.initial_regs) == set(cf.REGS16)
    assert t.initial_regs["ax"] == 0x02CB
    assert t.final_regs == {"ip": 0x94BC, "flags": 0x0013}
    assert t.final_ram == [(0x106821, 0x01)]
    assert t.hash == "626be5084b331080eb08256c12a62d24afdf2a03"
    cycles = t.cycles
    assert len(cycles) == t.cycle_count == 19 and all(len(c) == 11 for c in cycles)
    assert cycles[-1][7] == 4 and cycles[-1][1] == 2    # ends on the HALT bus cycle


def test_moo_loader_exception_chunk():
    f = cf.load_file(need(SHARED / "80286" / "real_mode" / "F6.7.MOO.gz"))
    taken = [t for t in f.tests if t.exception is not None]
    assert taken and all(t.exception.number == 0 for t in taken)   # divide error
    assert f.tests[0].exception.flag_address == 0x0728EC


def test_moo_loader_8086_movsb():
    f = cf.load_file(need(SHARED / "8086" / "A4.MOO.gz"))
    assert f.cpu_id == b"8086" and f.meta is None and f.end == "step"
    assert f.default_model == "8086" and f.mnemonic == "movsb"
    assert len(f) == 200 and [t.index for t in f.tests] == list(range(200))
    t = f.tests[0]
    assert t.name == "cs movsb" and list(t.bytes) == [0x2E, 0xA4] and t.hash is None
    assert t.initial_queue == [0x2E, 0xA4, 0x90, 0x90, 0x90]
    assert t.cycle_count == len(t.cycles) > 0


def test_suites_list_every_opcode_file():
    # Every file is also loaded (and run) by test_opcode_file.
    s = suite("8086")
    assert len(s.files) == 322 and s.revoked == set()
    assert sum(f.fmt == "moo" for f in s.files) == 1          # A4.MOO.gz stands in for A4
    s = suite("80286")
    assert len(s.files) == 325 and all(f.fmt == "moo" for f in s.files)
    assert "C8" not in {f.key for f in s.files}                # ENTER is missing upstream


def _chunk(cid, payload):
    return cid + struct.pack("<I", len(payload)) + payload


def _moo_386(extra_top=b"", fina_mask=True):
    """A one-test 80386 MOO 1.1 file (the real ones are not in the subset)."""
    init_vals = list(range(100, 120))
    rg32 = struct.pack("<I", (1 << 20) - 1) + struct.pack("<20I", *init_vals)
    ram = struct.pack("<I", 2) + struct.pack("<IB", 0x1234, 0xAB) + struct.pack("<IB", 0x1235, 1)
    init = _chunk(b"RG32", rg32) + _chunk(b"RAM ", ram) + _chunk(b"EA32", bytes(23))
    fin_regs = _chunk(b"RG32", struct.pack("<I", (1 << 2) | (1 << 17)) + struct.pack("<2I", 7, 0x202))
    fina = fin_regs + _chunk(b"RAM ", struct.pack("<I", 0))
    if fina_mask:
        fina += _chunk(b"RM32", struct.pack("<I", 1 << 17) + struct.pack("<I", 0xFFFFFFEF))
    test = (struct.pack("<I", 0) + _chunk(b"GMET", bytes(10))
            + _chunk(b"NAME", struct.pack("<I", 3) + b"nop")
            + _chunk(b"BYTS", struct.pack("<I", 2) + b"\x90\xf4")
            + _chunk(b"INIT", init) + _chunk(b"FINA", fina)
            + _chunk(b"ZZZZ", b"future chunk")
            + _chunk(b"CYCL", struct.pack("<I", 1) + bytes(15))
            + _chunk(b"EXCP", struct.pack("<BI", 6, 0x500))
            + _chunk(b"HASH", bytes(range(20))))
    meta = struct.pack("<BBBI8sIQBB2s", 1, 1, 7, 0x90, b"nop     ", 9, 1, 0, 0xFF, b"\0\0")
    head = _chunk(b"MOO ", bytes([1, 1, 0, 0]) + struct.pack("<I", 1) + b"386E")
    return head + _chunk(b"META", meta) + extra_top + _chunk(b"TEST", test)


def test_moo_loader_32_bit_layout(tmp_path):
    p = tmp_path / "90.MOO.gz"
    rm = _chunk(b"RM32", struct.pack("<I", 1 << 2) + struct.pack("<I", 0xFF))
    p.write_bytes(gzip.compress(_moo_386(extra_top=_chunk(b"QQQQ", b"skip me") + rm)))
    f = cf.load_file(str(p))
    assert f.cpu_id == b"386E" and f.default_model == "80386" and f.version == (1, 1)
    t = f.tests[0]
    assert list(t.initial_regs) == list(cf.REGS32)            # RG32 bit order, not REGS order
    assert t.initial_regs["cr0"] == 100 and t.initial_regs["eax"] == 102
    assert t.initial_regs["eip"] == 116 and t.initial_regs["dr7"] == 119
    assert t.final_regs == {"eax": 7, "eflags": 0x202}
    assert t.final_masks == {"eflags": 0xFFFFFFEF}
    assert f.file_masks == {"eax": 0xFF}
    assert t.initial_ram == [(0x1234, 0xAB), (0x1235, 1)]
    assert t.exception.number == 6 and t.hash == bytes(range(20)).hex()


# --------------------------------------------------------------------------------------------
# Malformed input: a ConformanceError naming the file (and the offset for MOO).

def test_bad_gzip_names_the_file(tmp_path):
    p = tmp_path / "00.json.gz"
    p.write_bytes(b"this is not gzip data")
    with pytest.raises(ConformanceError, match=re.escape(str(p)) + ".*gzip"):
        cf.load_file(str(p))


def test_cut_off_gzip_names_the_file(tmp_path):
    data = Path(need(SHARED / "80286" / "real_mode" / "00.MOO.gz")).read_bytes()
    p = tmp_path / "00.MOO.gz"
    p.write_bytes(data[:len(data) // 2])
    with pytest.raises(ConformanceError, match=re.escape(str(p)) + ".*gzip"):
        cf.load_file(str(p))


def test_truncated_moo_chunk_names_file_and_offset(tmp_path):
    raw = gzip.decompress(Path(need(SHARED / "80286" / "real_mode" / "00.MOO.gz")).read_bytes())
    p = tmp_path / "00.MOO.gz"
    p.write_bytes(gzip.compress(raw[:1000]))      # 20 + 39 + 550: inside the second TEST
    with pytest.raises(ConformanceError) as e:
        cf.load_file(str(p))
    msg = str(e.value)
    assert str(p) in msg and "truncated chunk 'TEST' at offset 609" in msg


def test_truncated_moo_subchunk(tmp_path):
    # The TEST chunk claims its full length but a RAM count runs past its INIT chunk.
    raw = bytearray(_moo_386())
    at = raw.index(b"RAM ") + 8
    raw[at:at + 4] = struct.pack("<I", 1000)
    p = tmp_path / "90.MOO.gz"
    p.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ConformanceError, match=re.escape(str(p)) + ".*'RAM ' at offset"):
        cf.load_file(str(p))


def test_moo_without_header(tmp_path):
    p = tmp_path / "90.MOO.gz"
    p.write_bytes(gzip.compress(_chunk(b"TEST", b"\0" * 4)))
    with pytest.raises(ConformanceError, match="no 'MOO ' header"):
        cf.load_file(str(p))


def test_bad_json_names_the_file(tmp_path):
    p = tmp_path / "00.json.gz"
    p.write_bytes(gzip.compress(b'[\r\n{\r\n    "name": "add", \r\n'))
    with pytest.raises(ConformanceError, match=re.escape(str(p)) + ": bad JSON at line"):
        cf.load_file(str(p))


def test_missing_json_key_names_file_and_test(tmp_path):
    tests = json.loads(gzip.open(need(SHARED / "8086" / "90.json.gz")).read())[:3]
    del tests[2]["final"]
    p = tmp_path / "90.json.gz"
    p.write_bytes(gzip.compress(json.dumps(tests).encode()))
    with pytest.raises(ConformanceError, match=re.escape(str(p)) + ": test #2: missing key 'final'"):
        cf.load_file(str(p))


def test_8088_key_names_are_accepted(tmp_path):
    tests = json.loads(gzip.open(need(SHARED / "8086" / "90.json.gz")).read())[:2]
    for i, t in enumerate(tests):
        t["hash"] = "A" * 40
        t["idx"] = 10 + i
        del t["test_hash"], t["test_num"]
    d = tmp_path / "8088"
    d.mkdir()
    p = d / "90.json.gz"
    p.write_bytes(gzip.compress(json.dumps(tests).encode()))
    f = cf.load_file(str(p))
    assert [t.index for t in f.tests] == [10, 11] and f.tests[0].hash == "a" * 40
    assert f.default_model == "8088"


def test_unknown_file_name(tmp_path):
    p = tmp_path / "nop.json.gz"
    p.write_bytes(gzip.compress(b"[]"))
    with pytest.raises(ConformanceError, match=re.escape(str(p)) + ": file name not recognised"):
        cf.load_file(str(p))


def test_missing_path():
    with pytest.raises(ConformanceError, match="no such file or directory"):
        cf.open_suite("/nonexistent/conformance/8086")


# --------------------------------------------------------------------------------------------
# Metadata, revocations, opcode filters.

def test_metadata_masks_agree_with_flag_patterns():
    for name in SUITE_DIRS:
        md = cf.load_metadata(os.path.join(need(SUITE_DIRS[name]), "metadata.json"))
        checked = 0
        for entry in md.opcodes.values():
            for sub in entry["reg"].values() if "reg" in entry else (entry,):
                if "flags" in sub:
                    assert cf.flags_mask_from_pattern(sub["flags"]) == sub["flags-mask"]
                    checked += 1
        assert checked > 30


def test_metadata_lookup_and_classes():
    s = suite("8086")
    md = s.metadata
    assert md.lookup("F6", 7) == ("normal", 0xF72A, None)
    assert md.lookup("D2", 6) == ("undocumented", 0xF72A, None)
    assert md.lookup("27") == ("normal", 0xF7FF, None)
    assert md.lookup("00") == ("normal", 0xFFFF, None)
    assert md.lookup("8F") == ("normal", 0xFFFF, None)      # group file with reg 0 documented
    by_key = {f.key: f for f in s.files}
    assert by_key["D6"].cls == "undocumented" and by_key["C0"].cls == "alias"
    assert by_key["D8"].cls == "fpu" and by_key["F6.1"].cls == "alias"
    assert by_key["00"].cls == "documented"
    md286 = suite("80286").metadata
    assert md286.lookup("D2", 4) == ("normal", 0xF7EE, None)
    assert md286.lookup("C1", 6) == ("undocumented", 0xF7EF, None)


def test_revocation_lists():
    assert cf.load_revocations(need(SHARED / "80286" / "revocation_list.txt")) == set()
    assert cf.load_revocations(need(SHARED / "80386" / "revocation_list.txt")) == {
        "8abbbc61a5866292b0bc816660d7b334bea7962a"}


def test_bad_revocation_line(tmp_path):
    p = tmp_path / "revocation_list.txt"
    p.write_text("# comment\nnot-a-hash\n")
    with pytest.raises(ConformanceError, match=re.escape(str(p)) + ": line 2"):
        cf.load_revocations(str(p))


def test_opcode_filters():
    s = suite("8086")
    assert [f.key for f in s.select(["f6.7"])] == ["F6.7"]
    assert [f.key for f in s.select(["F6"])] == [f"F6.{r}" for r in range(8)]
    assert [f.key for f in s.select(["A4", "00", "00"])] == ["00", "A4"]
    assert len(s.select([])) == len(s.files)
    with pytest.raises(ConformanceError, match="--opcode 0F: no such opcode file"):
        s.select(["0F"])
    for bad in ("F6.8", "XYZ", "1", "F6.", ""):
        with pytest.raises(ConformanceError, match=re.escape(f"--opcode {bad}: malformed")):
            s.select([bad])


# --------------------------------------------------------------------------------------------
# The runner against an oracle: a machine that answers every test with the hardware's final
# state (optionally spoiled), so the comparison logic is checked without the CPU.

class FakeMem:
    def __init__(self, size):
        self.data = bytearray(size)

    def write8(self, addr, value):
        self.data[addr] = value

    def read8(self, addr):
        return self.data[addr]


class OracleMachine:
    KEY = ("cs", "ip", "sp", "ax", "bx", "cx", "dx", "si", "di")

    def __init__(self, model, memory, files, spoil=None, outcome="halt"):
        # outcome: "halt" (the HLT halts), "loop" (1-cycle steps for ever), "spin" (0 cycles)
        self.model = model
        self.mode = "halt" if int(model) >= 80286 else "step"
        self.done = False
        self.cpu = types.SimpleNamespace(halted=False)
        self.mem = FakeMem(memory)
        self.clock = types.SimpleNamespace(now=0)
        self.bus = types.SimpleNamespace(a20=False)
        self.spoil = spoil
        self.outcome = outcome
        self.resets = 0
        self.loaded_flags = []
        self.answers = {}
        for f in files:
            for t in f.tests:
                self.answers[tuple(t.initial_regs[r] for r in self.KEY)] = t

    def reset(self):
        self.resets += 1
        self.done = False

    def _answer(self):
        self.loaded_flags.append(getattr(self.cpu, "flags", None))
        t = self.answers[tuple(getattr(self.cpu, r) for r in self.KEY)]
        for r, v in t.final_regs.items():
            setattr(self.cpu, r, v)
        for a, v in t.final_ram:
            self.mem.write8(a, v)
        if self.spoil is not None:
            self.spoil(self, t)
        return t

    def step(self):
        if self.mode == "halt" and self.done:
            # The generator's HLT, after the instruction under test.
            if self.outcome == "halt":
                self.cpu.halted = True
            return 1 if self.outcome == "loop" else 0
        t = self._answer()
        self.done = True
        return t.cycle_count


def oracle_runner(files, spoil=None, outcome="halt"):
    built = []

    def factory(model, memory):
        m = OracleMachine(model, memory, files, spoil, outcome)
        built.append(m)
        return m
    return cf.Runner(machine_factory=factory), built


def _file(suite_name, key):
    s = suite(suite_name)
    sfile = next(f for f in s.files if f.key == key)
    return s, sfile, sfile.load()


def test_runner_passes_the_hardware_answers_8086():
    s, sfile, opfile = _file("8086", "F7.7")
    runner, built = oracle_runner([opfile])
    r = runner.run_file(sfile, s, cycles=True, opfile=opfile)
    assert (r.total, r.passed, r.failed, r.first_failure) == (200, 200, 0, None)
    assert (r.cycle_total, r.cycle_matched) == (200, 200)
    assert len(built) == 1 and built[0].resets == 200 and built[0].mem.data.__len__() == 1 << 20
    assert "F7.7  idiv     200/200 ok" == r.line()


def test_runner_masks_undefined_flags_in_register_and_on_the_stack():
    s, sfile, opfile = _file("8086", "F6.7")   # IDIV: O S Z A P C undefined, INT 0 on error
    faults = [t for t in opfile.tests if t.final_regs.get("ip") == 0x400]
    assert faults

    def scramble_undefined(m, t):
        m.cpu.flags ^= 0x08D5                  # O S Z A P C
        if t in faults:
            sp = t.final_regs["sp"]
            ss = t.final_regs.get("ss", t.initial_regs["ss"])
            # 8086 addresses wrap at 1 MB
            m.mem.data[((ss << 4) + ((sp + 4) & 0xFFFF)) & 0xFFFFF] ^= 0xD5
            m.mem.data[((ss << 4) + ((sp + 5) & 0xFFFF)) & 0xFFFFF] ^= 0x08
    runner, _ = oracle_runner([opfile], scramble_undefined)
    r = runner.run_file(sfile, s, opfile=opfile)
    assert r.failed == 0, r.line()

    def flip_direction_flag(m, t):            # DF is defined: must be reported
        m.cpu.flags ^= 0x0400
    runner, _ = oracle_runner([opfile], flip_direction_flag)
    r = runner.run_file(sfile, s, opfile=opfile)
    assert r.failed == 200
    first = opfile.tests[0]
    exp = first.final_regs.get("flags", first.initial_regs["flags"])
    assert r.line().startswith("F6.7  idiv     0/200 FAIL  first: ")
    assert f'"{first.name}" flags: expected 0x{exp:04x} got 0x{exp ^ 0x400:04x} (d)' in r.line()


def test_runner_reports_registers_and_ram():
    s, sfile, opfile = _file("8086", "00")
    target = opfile.tests[5]

    def spoil(m, t):
        if t is target:
            m.cpu.ax = (m.cpu.ax + 1) & 0xFFFF
            addr, value = t.final_ram[0]
            m.mem.data[addr] = value ^ 0xFF
    runner, _ = oracle_runner([opfile], spoil)
    r = runner.run_file(sfile, s, opfile=opfile)
    assert (r.passed, r.failed) == (199, 1)
    exp_ax = target.final_regs.get("ax", target.initial_regs["ax"])
    addr, value = target.final_ram[0]
    assert r.first_failure.test is target
    assert r.first_failure.describe() == (
        f'"{target.name}" ax: expected 0x{exp_ax:04x} got 0x{(exp_ax + 1) & 0xFFFF:04x}; '
        f"ram[0x{addr:05x}]: expected 0x{value:02x} got 0x{value ^ 0xFF:02x}")


def test_runner_checks_unchanged_registers():
    s, sfile, opfile = _file("8086", "90")

    def clobber_bp(m, t):                     # bp is absent from final: must keep its value
        m.cpu.bp ^= 1
    runner, _ = oracle_runner([opfile], clobber_bp)
    r = runner.run_file(sfile, s, opfile=opfile, limit=10)
    assert (r.total, r.failed) == (10, 10)
    assert str(r.first_failure.differences[0]).startswith("bp: expected")


def test_runner_80286_halt_exception_and_flags():
    s, sfile, opfile = _file("80286", "F6.7")
    odd = [t for t in opfile.tests if t.exception and t.initial_regs["sp"] & 1]
    assert odd                                  # flag_address is rounded down for these

    def scramble(m, t):
        m.cpu.flags ^= 0x08D5
        if t.exception is not None:
            ss = t.final_regs.get("ss", t.initial_regs["ss"])
            sp = t.final_regs.get("sp", t.initial_regs["sp"])
            m.mem.data[(ss << 4) + ((sp + 4) & 0xFFFF)] ^= 0xD5
            m.mem.data[(ss << 4) + ((sp + 5) & 0xFFFF)] ^= 0x08
    runner, built = oracle_runner([opfile], scramble)
    r = runner.run_file(sfile, s, cycles=True, opfile=opfile)
    assert (r.total, r.failed) == (200, 0), r.line()
    assert r.cycle_total == 0                  # cycle comparison is for the 8086 suite
    m = built[0]
    assert m.bus.a20 is True and len(m.mem.data) == 16 << 20


def test_runner_loads_80286_flags_without_iopl_nt():
    s, sfile, opfile = _file("80286", "90")
    runner, built = oracle_runner([opfile])
    r = runner.run_file(sfile, s, opfile=opfile, limit=40)
    assert r.failed == 0
    initial = [t.initial_regs["flags"] for t in opfile.tests[:40]]
    assert any(f & 0xF000 for f in initial)
    assert built[0].loaded_flags == [f & 0x0FFF for f in initial]


def test_runner_reports_a_cpu_that_does_not_halt():
    s, sfile, opfile = _file("80286", "00")
    runner, _ = oracle_runner([opfile], outcome="loop")
    runner.max_cycles = 500
    r = runner.run_file(sfile, s, opfile=opfile, limit=3)
    assert r.failed == 3
    assert re.search(r"no HLT within \d+ instructions \(500 cycles\): stopped at [0-9a-f]{4}:",
                     r.first_failure.describe())
    # Instructions that charge no cycles cannot hang the runner either.
    runner, _ = oracle_runner([opfile], outcome="spin")
    r = runner.run_file(sfile, s, opfile=opfile, limit=2)
    assert r.failed == 2
    t = opfile.tests[0]
    assert (f"no HLT within 1000 instructions ({t.cycle_count} cycles)"
            in r.first_failure.describe())


def test_runner_survives_python_errors_and_rebuilds_the_machine():
    s, sfile, opfile = _file("8086", "40")

    def explode(m, t):
        if t.index == 1:
            raise RuntimeError("decoder fell over")
    runner, built = oracle_runner([opfile], explode)
    r = runner.run_file(sfile, s, opfile=opfile, limit=4)
    assert (r.passed, r.failed) == (3, 1)
    assert "exception RuntimeError: decoder fell over" in r.first_failure.describe()
    assert len(built) == 2


def test_runner_skips_revoked_tests():
    s, sfile, opfile = _file("8086", "41")
    revoked_suite = cf.Suite(s.directory, s.files, s.metadata, {opfile.tests[3].hash}, s.name)
    runner, _ = oracle_runner([opfile])
    r = runner.run_file(sfile, revoked_suite, opfile=opfile)
    assert (r.total, r.passed, r.revoked) == (199, 199, 1)
    assert r.line() == "41    inc      199/199 ok (1 revoked)"


def test_runner_reuses_one_machine_across_files():
    s = suite("8086")
    files = [f for f in s.files if f.key in ("F8", "F9", "FC")]
    loaded = [f.load() for f in files]
    runner, built = oracle_runner(loaded)
    for sfile, opfile in zip(files, loaded):
        assert runner.run_file(sfile, s, opfile=opfile).failed == 0
    assert len(built) == 1


def test_hardware_cycles_match_documented_8086_times():
    # The definition of the hardware count (see core.conformance) reproduces the Intel
    # timings for instructions that do not touch the bus, with a full queue.
    documented = {"90": 3, "F8": 2, "F9": 2, "FC": 2, "40": 2, "98": 2, "9E": 4, "27": 4}
    for key, clocks in documented.items():
        f = cf.load_file(need(SHARED / "8086" / f"{key}.json.gz"))
        plain = [t for t in f.tests if len(t.bytes) == 1]
        assert plain and {cf.hardware_cycles(t) for t in plain} == {clocks}, key
    mov = cf.load_file(need(SHARED / "8086" / "8A.json.gz"))
    reg_reg = [t for t in mov.tests if len(t.bytes) == 2 and t.bytes[1] >= 0xC0]
    assert reg_reg and {cf.hardware_cycles(t) for t in reg_reg} == {2}


# --------------------------------------------------------------------------------------------
# The command line.

def _args(*argv):
    p = cf.argparse.ArgumentParser()
    cf._add_arguments(p)
    return p.parse_args(list(argv))


def test_cli_final_line_and_exit_status():
    s = suite("8086")
    loaded = [f.load() for f in s.files if f.key in ("90", "F8")]
    runner, _ = oracle_runner(loaded)
    out = io.StringIO()
    status = cf.cli_main(_args(str(SUITE_DIRS["8086"]), "--opcode", "90", "F8", "--cycles"),
                         out=out, runner=runner)
    lines = out.getvalue().splitlines()
    assert status == 0
    assert lines[0] == "90    nop      200/200 ok  cycles 200/200"
    assert lines[1] == "F8    clc      200/200 ok  cycles 200/200"
    assert "documented       2 files (0 failing)  400/400 tests passed" in lines
    assert "cycles: 400/400 tests match the hardware cycle count exactly (8086)" in lines
    assert lines[-1] == "400 passed, 0 failed"

    def spoil(m, t):
        if t.index == 0:
            m.cpu.ip ^= 2
    runner, _ = oracle_runner(loaded, spoil)
    out = io.StringIO()
    status = cf.cli_main(_args(str(SUITE_DIRS["8086"]), "--opcode", "F8", "--limit", "5"),
                         out=out, runner=runner)
    lines = out.getvalue().splitlines()
    assert status == 1
    assert re.match(r'^F8    clc      4/5 FAIL  first: "clc" ip: expected 0x[0-9a-f]{4} got', lines[0])
    assert lines[-1] == "4 passed, 1 failed"


def test_cli_unknown_opcode_is_an_error(capsys):
    status = cf.cli_main(_args(need(SUITE_DIRS["8086"]), "--opcode", "0F"))
    assert status == 2
    err = capsys.readouterr().err
    assert "--opcode 0F" in err and "Traceback" not in err


def test_cli_unknown_cpu_is_an_error(capsys):
    status = cf.cli_main(_args(need(SUITE_DIRS["8086"]), "--opcode", "90", "--cpu", "8087"))
    assert status == 2
    err = capsys.readouterr().err
    assert "'8087'" in err and "Traceback" not in err


def test_cli_subparser_registration():
    p = cf.argparse.ArgumentParser(prog="cycle86")
    sub = p.add_subparsers(dest="command")
    cf.add_subparser(sub)
    args = p.parse_args(["conformance", "x", "--opcode", "00", "F6.7", "--opcode", "A4",
                         "--limit", "3", "--cycles", "--cpu", "8088"])
    assert (args.path, args.opcode, args.limit, args.cycles, args.cpu) == (
        "x", ["00", "F6.7", "A4"], 3, True, "8088")
    assert args.func is cf.cli_main


def test_module_entry_point_reports_malformed_files_without_traceback(tmp_path):
    p = tmp_path / "00.MOO.gz"
    p.write_bytes(b"\x1f\x8b garbage")
    proc = subprocess.run([sys.executable, "-m", "core.conformance", str(p)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert str(p) in proc.stderr and "Traceback" not in proc.stderr
