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
