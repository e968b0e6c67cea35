"""Tests of core.timing: key coverage per model, documented spot values, EA table, helpers,
and (when the conformance data is present) the documented-vs-measured comparison."""
import dataclasses
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:                 # run from a checkout without the shared conftest
    sys.path.insert(0, ROOT)

from core import timing  # noqa: E402
from core.timing import MODELS, Timing, ea_cycles_8086, ea_extra, table  # noqa: E402

CONFORMANCE = "/work/shared/conformance"
META_8086 = os.path.join(CONFORMANCE, "8086", "metadata.json")
META_286 = os.path.join(CONFORMANCE, "80286", "real_mode", "metadata.json")


def _meta_keys(path):
    """Opcode key -> metadata entry, with groups expanded to "XX.r"."""
    with open(path) as f:
        ops = json.load(f)["opcodes"]
    out = {}
    for op, entry in ops.items():
        if "reg" in entry:
            for reg, sub in entry["reg"].items():
                out[f"{op}.{reg}"] = sub
        else:
            out[op] = entry
    return out


need_meta = pytest.mark.skipif(not (os.path.exists(META_8086) and os.path.exists(META_286)),
                               reason="conformance metadata not present")

# 0F opcodes the 80386 decodes in real mode (besides the 80286 system group 0F00-0F06).
OPCODES_0F_386 = (
    ["0F20", "0F21", "0F22", "0F23", "0F24", "0F26"]
    + [f"0F{op:02X}" for op in range(0x80, 0xA0)]
    + ["0FA0", "0FA1", "0FA3", "0FA4", "0FA5", "0FA8", "0FA9", "0FAB", "0FAC", "0FAD",
       "0FAF", "0FB2", "0FB3", "0FB4", "0FB5", "0FB6", "0FB7", "0FBB", "0FBC", "0FBD",
       "0FBE", "0FBF", "0FBA.4", "0FBA.5", "0FBA.6", "0FBA.7"])


def _keys_286():
    meta = _meta_keys(META_286)
    # "undefined" raise #UD on the 286; "0F" is the escape byte itself; 0F04 is undocumented
    # with no known timing (docs/timing.md).
    return {k for k, e in meta.items()
            if e["status"] not in ("undefined", "extension")} - {"0F04"}


# --- key coverage -------------------------------------------------------------------------------

@need_meta
@pytest.mark.parametrize("model", ["8086", "8088"])
def test_8086_covers_every_metadata_key(model):
    # The 8086/8088 have no invalid-opcode trap: every encoding does something, so every key
    # of the 8086 metadata (normal, alias, undocumented, undefined, prefix, fpu) is covered.
    assert set(table(model)) == set(_meta_keys(META_8086))


@need_meta
def test_80286_covers_its_valid_keys():
    assert set(table("80286")) == _keys_286()


@need_meta
def test_80186_is_the_286_set_without_286_additions():
    expected = {k for k in _keys_286() if not k.startswith("0F") and k != "63"}
    assert set(table("80186")) == expected


@need_meta
def test_80386_adds_prefixes_and_0f_opcodes():
    expected = (_keys_286() - {"0F05", "FF.7"}) | {"64", "65", "66", "67"} | set(OPCODES_0F_386)
    assert set(table("80386")) == expected


def test_every_model_has_a_table_and_values_are_ints():
    for model in MODELS:
        tab = table(model)
        assert len(tab) > 300
        for key, t in tab.items():
            assert isinstance(t, Timing), key
            assert all(isinstance(v, int) and v >= 0 for v in t.as_tuple()), key
            # Every key has at least one documented figure.
            assert t.reg or t.mem or t.rep_base or key in ("26", "2E", "36", "3E", "64", "65",
                                                            "66", "67", "F0", "F1", "F2",
                                                            "F3"), (model, key)


def test_unknown_model_and_operand_size():
    with pytest.raises(ValueError):
        table("8080")
    with pytest.raises(ValueError):
        table("80286", operand_size=32)


def test_timing_is_frozen_and_tuple_follows_fields():
    t = table("8086")["01"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.reg = 1
    assert timing.FIELDS[0] == "reg" and timing.FIELDS[1] == "mem"
    assert t.as_tuple() == tuple(getattr(t, f) for f in timing.FIELDS)


def test_table_returns_a_copy():
    a = table("8086")
    a["90"] = Timing(reg=99)
    assert table("8086")["90"].reg == 3


def test_real_mode_ud_keys_are_in_the_table():
    for model in MODELS:
        assert timing.REAL_MODE_UD[model] <= set(table(model))


# --- documented spot values ---------------------------------------------------------------------

def test_8086_spot_values():
    t = table("8086")
    assert t["90"].reg == 3                                   # NOP
    assert t["89"].reg == 2 and t["8B"].reg == 2              # MOV reg,reg
    assert t["03"].mem == 9 and t["02"].mem == 9              # ADD reg,mem 9+EA
    assert t["01"].mem == 16                                  # ADD mem,reg 16+EA
    assert t["01"].reg == 3                                   # ADD reg,reg
    assert (t["F6.4"].reg, t["F6.4"].reg_max) == (70, 77)     # MUL r8 70-77
    assert (t["F7.6"].reg, t["F7.6"].reg_max) == (144, 162)   # DIV r16 144-162
    assert (t["F7.6"].mem, t["F7.6"].mem_max) == (150, 168)
    assert t["EB"].reg == 15 and t["E9"].reg == 15            # JMP short / near
    assert (t["74"].reg, t["74"].taken) == (4, 16)            # Jcc 16/4
    assert (t["64"].reg, t["64"].taken) == (4, 16)            # 60-6F alias 70-7F
    assert (t["E2"].reg, t["E2"].taken) == (5, 17)            # LOOP 17/5
    assert t["CD"].reg == 51 and t["CC"].reg == 52            # INT n, INT 3
    assert (t["CE"].reg, t["CE"].taken) == (4, 53)            # INTO
    assert t["CF"].reg == 24                                  # IRET
    assert (t["A4"].reg, t["A4"].rep_base, t["A4"].rep_iter) == (18, 9, 17)   # MOVSB 9+17n
    assert t["C3"].reg == 16 and t["CB"].reg == 26            # RET near / far
    assert t["C1"] == t["C3"] and t["C9"] == t["CB"]          # aliases
    assert (t["D2.4"].reg, t["D2.4"].mem, t["D2.4"].per_count) == (8, 20, 4)
    assert t["26"].reg == 2 and t["F0"].reg == 2 and t["F3"].reg == 2   # prefixes
    assert t["0F"].reg == 8                                   # POP CS
    assert t["D8"].reg == 2 and t["D8"].mem == 8              # ESC reads its operand
    assert t["FF.7"] == t["FF.6"]                             # PUSH alias
    assert t["82.3"] == t["80.3"]


def test_8088_adds_four_clocks_per_word_transfer():
    t86, t88 = table("8086"), table("8088")
    assert t88["50"].reg == 15                                # PUSH reg 11 (15)
    assert t88["01"].mem == 24 and t88["00"].mem == 16        # word vs byte operand
    assert t88["03"].mem == 13
    assert t88["A5"].reg == 26 and t88["A4"].reg == 18        # MOVSW 18 (26)
    assert (t88["A5"].rep_base, t88["A5"].rep_iter) == (9, 25)   # REP MOVSW 9+25/rep
    assert t88["CD"].reg == 71 and t88["CC"].reg == 72        # INT
    assert t88["CF"].reg == 44                                # IRET (44)
    assert t88["CE"].taken == 73
    assert (t88["F7.4"].mem, t88["F7.4"].mem_max) == (128, 143)  # MUL m16 (128-143)+EA
    assert t88["FF.3"].mem == 53                              # CALL memptr32 53+EA
    assert t88["E5"].reg == 14 and t88["ED"].reg == 12        # IN word
    assert t88["90"] == t86["90"]


def test_80186_spot_values():
    t = table("80186")
    assert t["01"].reg == 3 and t["01"].mem == 10
    assert (t["F6.4"].reg, t["F6.4"].reg_max) == (26, 28)
    assert t["F7.6"].reg == 38
    assert (t["C8"].reg, t["C8"].mem, t["C8"].count_base, t["C8"].per_count) == (15, 25, 22, 16)
    assert t["60"].reg == 36 and t["61"].reg == 51            # PUSHA / POPA
    assert (t["D2.4"].reg, t["D2.4"].per_count) == (5, 1)
    assert t["CD"].reg == 47 and t["CF"].reg == 28
    assert t["8D"].reg == 0                                   # LEA reg,reg: #UD


def test_80286_spot_values():
    t = table("80286")
    assert t["01"].reg == 2 and t["01"].mem == 7              # ADD reg,reg 2
    assert t["F7.4"].reg == 21 and t["F7.4"].mem == 24        # MUL r16 21
    assert t["F6.4"].reg == 13
    assert (t["EB"].reg, t["EB"].plus_m) == (7, 1)            # JMP short 7+m
    assert (t["74"].reg, t["74"].taken, t["74"].plus_m) == (3, 7, 1)
    assert (t["E2"].reg, t["E2"].taken) == (4, 8)
    assert (t["CD"].reg, t["CD"].plus_m) == (23, 1)
    assert (t["A4"].rep_base, t["A4"].rep_iter) == (5, 4)
    assert (t["AA"].rep_base, t["AA"].rep_iter) == (4, 3)
    assert (t["C8"].reg, t["C8"].mem, t["C8"].count_base, t["C8"].per_count) == (11, 15, 12, 4)
    assert t["0F01.4"].reg == 2 and t["0F01.6"].mem == 6      # SMSW / LMSW
    assert t["0F06"].reg == 2 and t["0F05"].reg == 195        # CLTS / LOADALL
    assert t["26"].reg == 0 and t["F0"].reg == 0
    assert "0F00.0" in timing.REAL_MODE_UD["80286"]


def test_80386_spot_values():
    t = table("80386")
    assert t["01"].reg == 2 and t["01"].mem == 7              # ADD r,r 2
    assert (t["F7.4"].reg, t["F7.4"].reg_max) == (9, 22)      # MUL r16 9-22
    assert (t["F7.4"].mem, t["F7.4"].mem_max) == (12, 25)
    assert (t["F6.4"].reg, t["F6.4"].reg_max) == (9, 14)
    assert t["F7.6"].reg == 22 and t["F7.7"].reg == 27
    assert (t["0F84"].reg, t["0F84"].taken, t["0F84"].plus_m) == (3, 7, 1)
    assert t["0FB6"].reg == 3 and t["0FB6"].mem == 6          # MOVZX
    assert (t["0FBC"].reg, t["0FBC"].per_count) == (10, 3)    # BSF 10+3n
    assert (t["A4"].rep_base, t["A4"].rep_iter) == (5, 4)
    assert t["CD"].reg == 37 and t["CC"].reg == 33 and t["CF"].reg == 22
    assert t["D3.2"].reg == 9 and t["D3.4"].reg == 3          # RCL vs SHL
    t32 = table("80386", operand_size=32)
    assert (t32["F7.4"].reg, t32["F7.4"].reg_max) == (9, 38)
    assert t32["F7.6"].reg == 38 and t32["F7.7"].mem == 46
    assert t32["01"] == t["01"]
    assert timing.SPECIAL_MOV_386[("0F22", 3)] == 5


def test_prefix_cycles_match_the_prefix_entries():
    for model in MODELS:
        tab = table(model)
        for key in ("26", "2E", "36", "3E", "F0", "F2", "F3"):
            assert tab[key].reg == timing.prefix_cycles(model)


def test_interrupt_timing():
    assert timing.interrupt_timing("8086") == {"intr": 61, "nmi": 50, "exception": 51}
    assert timing.interrupt_timing("8088")["exception"] == table("8088")["CD"].reg
    for model in ("80186", "80286", "80386"):
        assert timing.interrupt_timing(model)["exception"] == table(model)["CD"].reg


# --- effective address ----------------------------------------------------------------------------

def test_ea_table_8086():
    assert len(timing.EA_8086) == 24
    assert ea_cycles_8086(0, 6) == 6                          # disp only
    for rm in (4, 5, 7):
        assert ea_cycles_8086(0, rm) == 5                     # base or index
        assert ea_cycles_8086(1, rm) == 9 and ea_cycles_8086(2, rm) == 9
    assert ea_cycles_8086(1, 6) == 9 and ea_cycles_8086(2, 6) == 9   # [BP+disp]
    assert ea_cycles_8086(0, 0) == 7 and ea_cycles_8086(0, 3) == 7   # BX+SI, BP+DI
    assert ea_cycles_8086(0, 1) == 8 and ea_cycles_8086(0, 2) == 8   # BX+DI, BP+SI
    assert ea_cycles_8086(2, 0) == 11 and ea_cycles_8086(1, 3) == 11
    assert ea_cycles_8086(1, 1) == 12 and ea_cycles_8086(2, 2) == 12
    assert ea_cycles_8086(0, 6, has_segment_override=True) == 8
    assert ea_cycles_8086(3, 0) == 0
    assert ea_cycles_8086(3, 0, True) == 0


def test_ea_extra():
    assert ea_extra("80186", 2, 0) == 0
    assert ea_extra("80286", 2, 0) == 1 and ea_extra("80286", 0, 0) == 0
    assert ea_extra("80286", 1, 4) == 0
    assert ea_extra("80386", 0, 0) == 1 and ea_extra("80386", 0, 6) == 0
    assert ea_extra("80386", 0, 4, addr32=True, sib_base_and_index=True) == 1
    assert ea_extra("80386", 3, 0) == 0


# --- helpers --------------------------------------------------------------------------------------

def test_mul_cycles_386_matches_documented_ranges():
    mul = timing.mul_cycles_386
    assert mul(0) == 9 and mul(1) == 9 and mul(7) == 9 and mul(9) == 10
    assert mul(0xFF) == 14 and mul(0xFFFF) == 22 and mul(0xFFFFFFFF) == 38   # the maxima
    assert mul(-0x80) == 13
    assert mul(0, memory=True) == 12 and mul(0xFFFF, memory=True) == 25


def test_next_instruction_components_386():
    # ADD word [bx+1234h], 5678h: 81 87 34 12 78 56 -> opcode, modrm, disp, imm = 4
    assert timing.next_instruction_components_386(6, True, True, 2, 2) == 4
    assert timing.next_instruction_components_386(1, False, False) == 1


def test_parse_key():
    assert timing.parse_key("80.3") == (0x80, 0, 3)
    assert timing.parse_key("0FAF") == (0xAF, 0x0F, -1)
    assert timing.parse_key("0FBA.4") == (0xBA, 0x0F, 4)
    assert timing.parse_key("90") == (0x90, 0, -1)


def test_classes_cover_table():
    for model in MODELS:
        keys = [k for ks in timing.classes(model).values() for k in ks]
        assert len(keys) == len(set(keys)) == len(table(model))


# --- documented vs measured -----------------------------------------------------------------------

need_8086_data = pytest.mark.skipif(
    not os.path.exists(os.path.join(CONFORMANCE, "8086", "90.json.gz")),
    reason="8086 conformance data not present")


@need_8086_data
def test_compare_8086_on_well_matched_opcodes():
    rows = timing.compare_8086(os.path.join(CONFORMANCE, "8086"),
                               keys=["90", "01", "A4", "D2.4", "74"])
    by = {(r["key"], r["form"]): r for r in rows}
    assert by[("90", "reg")]["hw"] == 3 and by[("90", "reg")]["delta"] == 0
    assert by[("01", "mem")]["hw_base"] == 16                 # ADD mem,reg 16+EA on hardware
    assert by[("01", "reg")]["hw_base"] == 3
    intercept, slope = by[("A4", "rep")]["fit"]               # REP MOVSB, from the MOO file
    assert abs(slope - 17) < 0.1 and abs(intercept - 9) < 2
    intercept, slope = by[("D2.4", "reg")]["fit"]             # SHL r8,CL 8+4n
    assert abs(slope - 4) < 0.1 and abs(intercept - 8) < 1
    assert by[("74", "nottaken")]["hw"] == 4
    assert by[("74", "taken")]["hw_base"] >= 16


@need_8086_data
def test_compare_cli_prints_table(capsys):
    assert timing._main(["--compare-8086"]) == 0
    out = capsys.readouterr().out
    assert "documented" in out and "\n90     nop" in out


# --- 80486, Pentium, Pentium II: key coverage ---------------------------------------------------

X87 = {f"{op:02X}" for op in range(0xD8, 0xE0)}
NEW_486 = ({f"0F{op:02X}" for op in range(0xC8, 0xD0)}
           | {"0FC0", "0FC1", "0FB0", "0FB1", "0F08", "0F09", "0F01.7", "0FA2"})
NEW_P5 = {"0F30", "0F31", "0F32", "0F33", "0FC7.1", "0F0B"}
NEW_P6 = {f"0F{op:02X}" for op in range(0x40, 0x50)} | {"0F34", "0F35"}
# The MMX instructions of the Pentium II [SDM vol. 2 Table A-3, no prefix], listed here from
# the opcode map rather than from core/opcodes.py, so the two are checked against each other.
MMX_P6 = ({f"0F{op:02X}" for op in (*range(0x60, 0x6C), 0x6E, 0x6F, 0x74, 0x75, 0x76, 0x77,
                                     0x7E, 0x7F, 0xD1, 0xD2, 0xD3, 0xD5, 0xD8, 0xD9, 0xDB,
                                     0xDC, 0xDD, 0xDF, 0xE1, 0xE2, 0xE5, 0xE8, 0xE9, 0xEB,
                                     0xEC, 0xED, 0xEF, 0xF1, 0xF2, 0xF3, 0xF5, 0xF8, 0xF9,
                                     0xFA, 0xFC, 0xFD, 0xFE)}
          | {f"0F{op:02X}.{r}" for op in (0x71, 0x72) for r in (2, 4, 6)} | {"0F73.2", "0F73.6"})


def test_80486_is_the_386_set_without_x87_plus_486_opcodes():
    # x87 (D8-DF) is out of scope from the 80486 on (integrated FPU, not modelled here).
    assert set(table("80486")) == (set(table("80386")) - X87) | NEW_486


def test_pentium_drops_mov_tr_and_adds_p5_opcodes():
    assert set(table("pentium")) == (set(table("80486")) - {"0F24", "0F26"}) | NEW_P5


def test_pentium2_adds_cmov_sysenter_sysexit_and_mmx():
    assert set(table("pentium2")) == set(table("pentium")) | NEW_P6 | MMX_P6


def test_mmx_clocks_pentium2():
    # [P6OPT]: the MMX multiplier has latency 3, the MMX ALU and shifter 1.
    t = table("pentium2")
    assert {t[k].reg for k in ("0FD5", "0FE5", "0FF5")} == {3}
    assert t["0FFC"].reg == 1 and t["0FFC"].mem == 1 and t["0F71.2"].reg == 1


@pytest.mark.parametrize("model, isa_name", [("80386", "ISA_386"), ("80486", "ISA_486"),
                                             ("pentium", "ISA_586"), ("pentium2", "ISA_686")])
def test_tables_cover_the_decoder_opcode_table(model, isa_name):
    # core/opcodes.py is the decoder's source of truth: every opcode it decodes for the model
    # has a timing entry (x87 excepted from the 80486 on).
    from core import models, opcodes
    isa = getattr(models, isa_name)
    m = models.get_model(model)
    assert m.isa == isa
    decoded = {opcodes.key(op, reg) for (op, reg), e in opcodes.ENTRIES.items()
               if e.available(m)}
    missing = decoded - set(table(model))
    if model != "80386":
        missing -= X87
    assert not missing


def test_new_models_take_operand_size_32():
    for model in ("80486", "pentium", "pentium2"):
        assert set(table(model, operand_size=32)) == set(table(model))


def test_not_documented_names_real_classes():
    for model, notes in timing.NOT_DOCUMENTED.items():
        assert set(notes) <= set(timing.classes(model)), model


# --- 80486, Pentium, Pentium II: documented spot values -------------------------------------------

def test_80486_spot_values():
    t = table("80486")
    assert t["01"].reg == 1 and t["03"].reg == 1              # ADD r,r 1
    assert t["03"].mem == 2 and t["01"].mem == 3              # ADD r,m 2; m,r 3
    assert t["8B"].mem == 1 and t["89"].mem == 1              # MOV r,m 1; m,r 1
    assert (t["74"].reg, t["74"].taken) == (1, 3)             # Jcc 3/1
    assert (t["0F84"].reg, t["0F84"].taken) == (1, 3)
    assert (t["E2"].reg, t["E2"].taken) == (6, 7)             # LOOP 7/6
    assert (t["E3"].reg, t["E3"].taken) == (5, 8)             # JCXZ 8/5
    assert t["E8"].reg == 3 and t["C3"].reg == 5              # CALL rel 3, RET 5
    assert t["CD"].reg == 30 and t["CF"].reg == 15            # INT n 30, IRET 15
    assert (t["F7.4"].reg, t["F7.4"].reg_max) == (13, 26)     # MUL r16 13-26
    assert t["F7.6"].reg == 24 and t["F6.7"].mem == 20        # DIV r16 24, IDIV m8 20
    assert (t["D3.2"].reg, t["D3.2"].reg_max) == (8, 30)      # RCL r,CL 8-30
    assert t["C1.4"].reg == 2 and t["D3.4"].reg == 3          # SHL r,imm 2; r,CL 3
    assert t["0FC8"].reg == 1                                 # BSWAP 1
    assert (t["0FC1"].reg, t["0FC1"].mem) == (3, 4)           # XADD 3/4
    assert (t["0FB1"].reg, t["0FB1"].mem, t["0FB1"].mem_max) == (6, 7, 10)
    assert t["0FA2"].reg == 14 and t["0F01.7"].mem == 12      # CPUID, INVLPG
    movs = t["A5"]                                            # REP MOVS 5 / 13 / 12+3n
    assert (movs.rep_zero, movs.rep_one, movs.rep_base, movs.rep_iter) == (5, 13, 12, 3)
    assert t["F0"].reg == 1 and timing.prefix_cycles("80486") == 1
    t32 = table("80486", operand_size=32)
    assert (t32["F7.4"].reg, t32["F7.4"].reg_max) == (13, 42) and t32["F7.6"].reg == 40


def test_pentium_spot_values():
    t = table("pentium")
    assert t["01"].reg == 1 and t["03"].mem == 2 and t["01"].mem == 3   # ADD r,r / r,m / m,r
    assert t["8B"].mem == 1                                   # MOV r,m 1
    assert (t["74"].reg, t["74"].taken) == (1, 1)             # Jcc 1 (predicted)
    assert t["CD"].reg == 16 and t["CC"].reg == 13            # INT n 16, INT 3 13
    assert t["F7.4"].reg == 11 and t["F7.6"].reg == 25        # MUL r16 11, DIV r16 25
    assert (t["0F32"].reg, t["0F32"].reg_max) == (20, 24)     # RDMSR 20-24
    assert (t["0F30"].reg, t["0F30"].reg_max) == (30, 45)     # WRMSR 30-45
    assert t["0FC7.1"].mem == 10 and t["0FA2"].reg == 14      # CMPXCHG8B 10, CPUID 14
    assert "0F24" not in t and "0F26" not in t                # MOV TRn: #UD on the Pentium
    t32 = table("pentium", operand_size=32)
    assert t32["F7.4"].reg == 10 and t32["F7.6"].reg == 41 and t32["F7.7"].reg == 46


def test_pentium2_charges_pentium_figures_and_says_so():
    p5, p6 = table("pentium"), table("pentium2")
    assert p6["01"] == p5["01"] and p6["CD"] == p5["CD"]
    assert p6["0F44"].reg == p6["8B"].reg                     # CMOVcc as MOV r,r/m
    assert timing.prefix_cycles("pentium2") == 0
    assert "sysenter" in timing.NOT_DOCUMENTED["pentium2"]
    assert "alu_rm_r_w" in timing.NOT_DOCUMENTED["pentium2"]


def test_interrupt_timing_new_models():
    for model in ("80486", "pentium", "pentium2"):
        assert timing.interrupt_timing(model)["exception"] == table(model)["CD"].reg


def test_ea_extra_new_models():
    assert ea_extra("80486", 0, 0) == 1 and ea_extra("80486", 0, 6) == 0
    assert ea_extra("pentium", 0, 0) == 0 and ea_extra("pentium2", 1, 1) == 0


def test_special_mov():
    assert timing.special_mov("80386") == timing.SPECIAL_MOV_386
    assert timing.special_mov("80486")[("0F22", 0)] == 17
    assert timing.special_mov("pentium")[("0F22", 4)] == 14
    assert timing.special_mov("8086") == {}


# --- protected mode ---------------------------------------------------------------------------

def test_pm_costs_models():
    assert timing.PM_MODELS == ("80286", "80386", "80486", "80486sx", "pentium", "pentium2")
    assert timing.pm_costs("80486sx") == timing.pm_costs("80486")
    assert table("80486sx") == table("80486")            # same integer core, x87 out of scope
    for model in ("8086", "8088", "80186"):
        with pytest.raises(ValueError):
            timing.pm_costs(model)
    pm = timing.pm_costs("80386")
    pm["call_far"] = 0
    assert timing.pm_costs("80386")["call_far"] == 34             # a fresh copy


# Keys every protected-mode model has.
PM_COMMON = {
    "call_far", "call_far_m", "call_gate_same", "call_gate_same_m", "call_gate_inner",
    "call_gate_inner_m", "call_gate_inner_x", "call_gate_inner_x_m", "call_gate_per_param",
    "call_tss", "call_tss_m", "call_task_gate", "call_task_gate_m",
    "jmp_far", "jmp_far_m", "jmp_gate", "jmp_gate_m", "jmp_tss", "jmp_tss_m",
    "jmp_task_gate", "jmp_task_gate_m",
    "ret_far", "ret_far_imm", "ret_far_outer", "ret_far_imm_outer",
    "iret", "iret_outer", "iret_task",
    "int_same", "int_inner", "int_task_gate", "int3_same", "int3_inner", "int3_task_gate",
    "into_same", "into_inner", "into_task_gate",
    "mov_sreg", "mov_sreg_m", "pop_sreg", "lds", "pushf", "popf",
    "in_imm_iopl", "in_dx_iopl", "out_imm_iopl", "out_dx_iopl", "ins_iopl", "outs_iopl",
    "rep_ins_iopl_base", "rep_ins_iter", "rep_outs_iopl_base", "rep_outs_iter",
    "lgdt", "lidt", "sgdt", "sidt", "lldt", "lldt_m", "ltr", "ltr_m", "sldt", "sldt_m",
    "str", "str_m", "lar", "lar_m", "lsl", "lsl_m", "verr", "verr_m", "verw", "verw_m",
    "arpl", "arpl_m", "clts", "lmsw", "lmsw_m", "smsw", "smsw_m", "hlt",
}
# Keys of the 80386 and later (V86 mode, I/O bitmap, FS/GS, CRn/DRn).
PM_386 = {
    "iret_to_v86", "int_from_v86", "int3_from_v86", "into_from_v86", "lfs",
    "mov_cr0_r", "mov_cr2_r", "mov_cr3_r", "mov_r_cr",
    "mov_dr0_3_r", "mov_dr6_7_r", "mov_r_dr0_3", "mov_r_dr6_7",
} | {f"{io}_{kind}" for io in ("in_imm", "in_dx", "out_imm", "out_dx", "ins", "outs")
     for kind in ("bitmap", "v86")} | {f"rep_{io}_{kind}_base" for io in ("ins", "outs")
                                        for kind in ("bitmap", "v86")}


def _ts_keys(olds_int, olds_other, news):
    out = set()
    for instr in ("call_tss", "call_task_gate", "jmp_tss", "jmp_task_gate", "iret", "int"):
        for old in (olds_int if instr == "int" else olds_other):
            out |= {f"ts_{instr}_{old}_to_{new}" for new in news}
    return out


def test_pm_key_sets():
    def base(keys):
        return {k for k in keys if not k.startswith("ts_")}
    k286 = set(timing.pm_costs("80286"))
    assert base(k286) == PM_COMMON
    assert k286 - PM_COMMON == _ts_keys(["tss16"], ["tss16"], ["tss16"])
    k386 = set(timing.pm_costs("80386"))
    assert base(k386) == PM_COMMON | PM_386
    assert k386 - base(k386) == _ts_keys(["tss32", "v86", "tss16"], ["tss32", "tss16"],
                                         ["tss32", "v86", "tss16"])
    k486 = set(timing.pm_costs("80486"))
    extra_486 = {"invlpg", "cpuid", "invd", "wbinvd"}
    assert base(k486) == PM_COMMON | PM_386 | extra_486
    all_olds = ["tss32", "v86", "tss16"]
    assert k486 - base(k486) == _ts_keys(all_olds, all_olds, all_olds)
    k5 = set(timing.pm_costs("pentium"))
    assert base(k5) == (PM_COMMON | PM_386 | extra_486
                        | {"mov_cr4_r", "rdmsr", "rdmsr_max", "wrmsr", "wrmsr_max"})
    assert set(timing.pm_costs("pentium2")) == k5
    for model in timing.PM_MODELS:
        assert timing.PM_PLUS_M[model] <= set(timing.pm_costs(model))
        assert timing.PM_UNCHECKED[model] <= set(timing.pm_costs(model))
        assert all(isinstance(v, int) and v >= 0 for v in timing.pm_costs(model).values())


def test_pm_80286_documented_values():
    pm = timing.pm_costs("80286")
    assert pm["call_far"] == 26 and pm["call_gate_same"] == 41                 # CALL cd
    assert pm["call_gate_inner"] == 82                                         # no parameters
    assert timing.call_gate_cycles("80286", 3, inner=True) == 86 + 4 * 3       # 86+4X
    assert pm["call_tss"] == 177 and pm["call_task_gate"] == 182
    assert timing.task_switch_cycles("80286", "call_task_gate", "tss16", "tss16") == 182
    assert pm["jmp_tss_m"] == 178 and pm["jmp_task_gate_m"] == 183
    assert (pm["ret_far"], pm["ret_far_outer"]) == (25, 55)
    assert (pm["iret"], pm["iret_outer"], pm["iret_task"]) == (31, 55, 169)
    assert (pm["int_same"], pm["int_inner"], pm["int_task_gate"]) == (40, 78, 167)
    assert "call_far" in timing.PM_PLUS_M["80286"] and "lgdt" not in timing.PM_PLUS_M["80286"]
    with pytest.raises(ValueError):
        timing.task_switch_cycles("80286", "call_tss", "tss32", "tss32")        # no 386 TSS


def test_pm_80386_documented_values():
    pm = timing.pm_costs("80386")
    assert pm["call_far"] == 34 and pm["call_far_m"] == 38
    assert pm["call_gate_same"] == 52 and pm["call_gate_inner"] == 86
    # CALL via call gate to an inner level with x parameters: 94+4x+m (98+4x+m indirect).
    assert timing.call_gate_cycles("80386", 2, inner=True) == 94 + 8
    assert timing.call_gate_cycles("80386", 2, inner=True, indirect=True) == 98 + 8
    assert timing.call_gate_cycles("80386", 0, inner=True) == 86
    assert timing.call_gate_cycles("80386", 0, inner=False) == 52
    # Task switch via a TSS / task gate: the CALL page's ts table, 386 TSS to 386 TSS.
    assert timing.task_switch_cycles("80386", "call_tss", "tss32", "tss32") == 300
    assert timing.task_switch_cycles("80386", "call_task_gate", "tss32", "tss32") == 309
    assert timing.task_switch_cycles("80386", "call_tss", "tss32", "tss32", indirect=True) == 305
    assert timing.task_switch_cycles("80386", "call_tss", "tss16", "tss16") == 273
    assert timing.task_switch_cycles("80386", "jmp_task_gate", "tss32", "v86") == 229
    assert timing.task_switch_cycles("80386", "iret", "tss16", "tss16") == 232
    assert timing.task_switch_cycles("80386", "int", "v86", "tss32") == 314
    assert pm["jmp_far"] == 27 and pm["jmp_gate"] == 45
    assert (pm["ret_far"], pm["ret_far_outer"]) == (32, 68)
    assert (pm["iret"], pm["iret_outer"], pm["iret_to_v86"]) == (38, 82, 60)
    assert (pm["int_same"], pm["int_inner"], pm["int_from_v86"]) == (59, 99, 119)
    assert (pm["mov_sreg"], pm["mov_sreg_m"], pm["pop_sreg"]) == (18, 19, 21)
    assert (pm["lds"], pm["lfs"]) == (22, 25)
    assert (pm["in_imm_iopl"], pm["in_imm_bitmap"], pm["in_imm_v86"]) == (6, 26, 26)
    assert (pm["out_dx_iopl"], pm["out_dx_bitmap"]) == (5, 25)
    assert (pm["rep_ins_iopl_base"], pm["rep_ins_iter"]) == (7, 6)
    assert (pm["rep_outs_bitmap_base"], pm["rep_outs_iter"]) == (26, 5)
    assert pm["mov_cr0_r"] == 10 and pm["mov_r_dr6_7"] == 14
    assert {"call_far", "call_gate_inner_x", "jmp_gate_m", "ret_far"} <= timing.PM_PLUS_M["80386"]
    assert not {"ret_far_outer", "iret", "int_same", "call_tss"} & timing.PM_PLUS_M["80386"]
    # The system-instruction figures agree with the real-mode table's protected-mode entries.
    t = table("80386")
    assert pm["lldt"] == t["0F00.2"].reg and pm["lar_m"] == t["0F02"].mem
    assert pm["lgdt"] == t["0F01.2"].mem and pm["clts"] == t["0F06"].reg


def test_pm_80486_documented_values():
    pm = timing.pm_costs("80486")
    assert pm["call_far"] == 20 and pm["call_gate_same"] == 35 and pm["call_gate_inner"] == 69
    assert timing.call_gate_cycles("80486", 1, inner=True) == 77 + 4
    # CALL to a task: 37+TS; TS 199 to a 32-bit TSS, 177 to a V86 TSS, 180 to a 16-bit TSS.
    assert timing.task_switch_cycles("80486", "call_tss", "tss32", "tss32") == 37 + 199
    assert timing.task_switch_cycles("80486", "jmp_task_gate", "tss32", "tss16") == 43 + 180
    assert timing.task_switch_cycles("80486", "iret", "tss32", "v86") == 32 + 177
    assert (pm["iret"], pm["iret_outer"]) == (15, 36)
    assert (pm["int_same"], pm["int_inner"], pm["int_from_v86"]) == (44, 71, 86)
    assert (pm["into_same"], pm["into_inner"], pm["into_from_v86"]) == (46, 73, 84)
    assert timing.task_switch_cycles("80486", "int", "tss32", "tss32") == 37 + 199
    assert (pm["in_imm_iopl"], pm["in_imm_bitmap"], pm["in_imm_v86"]) == (8, 28, 27)
    assert (pm["out_imm_iopl"], pm["out_imm_bitmap"], pm["out_imm_v86"]) == (11, 31, 29)
    assert not timing.PM_PLUS_M["80486"]


def test_pm_pentium_values():
    pm = timing.pm_costs("pentium")
    assert timing.task_switch_cycles("pentium", "int", "tss32", "tss32") == pm["int_task_gate"] + 85
    assert pm["ts_int_tss32_to_tss16"] == 87 and pm["ts_int_tss16_to_v86"] == 71
    assert (pm["rdmsr"], pm["rdmsr_max"], pm["wrmsr"], pm["wrmsr_max"]) == (20, 24, 30, 45)
    assert timing.pm_costs("pentium2") == pm
    assert {"sysenter", "sysexit", "rdpmc"} <= timing.PM_UNDOCUMENTED["pentium2"]
    assert not timing.PM_UNCHECKED["80386"] and not timing.PM_UNCHECKED["80286"]


def test_no_page_walk_figure():
    # None of the manuals used prints a TLB-miss / page-walk cost; nothing is invented.
    assert timing.PAGE_WALK_DOCUMENTED is False
