"""Documented instruction clock counts of the 8086, 8088, 80186, 80286, 80386, 80486, Pentium
and Pentium II, as data, with the protected-mode transfer and system-instruction costs.

The CPU (core/cpu.pyx) loads these tables once at start-up into C arrays; nothing here runs
per instruction. The format is deliberately flat: a dict from an opcode key to a frozen
`Timing` record of small ints. docs/timing.md describes the format, the sources and what is
approximated; read it before changing a number.

Opcode keys follow the conformance-suite convention (../shared/conformance):
    "00".."FF"        one-byte opcodes
    "80.3"            group opcode + ModR/M reg field
    "0FAF", "0FBA.4"  two-byte (0F) opcodes, with ".reg" for groups

Sources (cited in the comments below by these tags):
    [86UM]   Intel, 8086 Family User's Manual (1979), Table 2-21 "Instruction Set Reference
             Data", and the iAPX 86,88 User's Manual (1981) instruction timing tables:
             8086 clocks, memory forms as "n+EA", and the rule "add 4 clocks for each word
             transfer at an odd address (8086) / for every word transfer (8088)".
    [86PR]   Intel, iAPX 86/88, 186/188 User's Manual, Programmer's Reference (210200-002),
             per-instruction pages; they give the 8088 figures where they differ, e.g. IRET (44).
    [186DS]  Intel, 80186/80188 data sheet, "Instruction Set Summary" (clock cycles include the
             effective-address calculation). Same table as Appendix D of the 80C186 user's manual.
    [286PRM] Intel, iAPX 286 Programmer's Reference Manual, Appendix B instruction set, "Clocks"
             column, real-address-mode figures (they include the effective address).
    [386PRM] Intel, 80386 Programmer's Reference Manual (1986), chapter 17, "Clocks" column,
             real-address-mode figures, and the "pm=" / "ts" figures for pm_costs().
    [486PRM] Intel, i486 Microprocessor Programmer's Reference Manual (1990), chapter 26,
             "Clocks" column (cache hit assumed). Read in this session only through copies of
             its figures (docs/timing.md says which lines were compared).
    [P5DM]   Intel, Pentium Processor Family Developer's Manual, vol. 3 (1995), chapter 25,
             "Clocks" column; the figure for the instruction issued alone (unpaired).
    [P6]     Pentium Pro / Pentium II: Intel publishes no per-instruction clock count for the
             P6 family (NOT_DOCUMENTED says what is charged instead).
    [P6OPT]  Intel Architecture Optimization Manual (1997, order 242816), the MMX technology
             chapter and the P6 execution-unit table: the MMX ALU and shifter have latency 1
             and throughput 1, the MMX multiplier (PMULLW, PMULHW, PMADDWD) latency 3 and
             throughput 1.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

MODELS = ("8086", "8088", "80186", "80286", "80386", "80486", "80486sx", "pentium",
          "pentium2")
# The models that have protected mode (pm_costs).
PM_MODELS = ("80286", "80386", "80486", "80486sx", "pentium", "pentium2")
# Models whose integer timing is another model's: the i486SX is the 80486 integer core
# without the FPU (x87 is out of scope in either case).
SAME_TIMING = {"80486sx": "80486"}


@dataclass(frozen=True, slots=True)
class Timing:
    """Documented clocks of one opcode key. Every field is an int; 0 means "not applicable".

    reg        clocks of the register / immediate / no-operand form. For a conditional
               transfer (Jcc, LOOPcc, JCXZ, INTO) this is the total when NOT taken.
    mem        clocks of the memory-operand form. 8086/8088: WITHOUT the effective-address time
               (add ea_cycles_8086()). 80186/80286/80386: the documented figure, which includes
               the EA (add ea_extra() for the documented EA surcharges).
               ENTER only: the nesting-level-1 time (ENTER has no memory operand).
    taken      total clocks when a conditional transfer IS taken (Jcc, LOOPcc, JCXZ) or when
               INTO raises its interrupt. 0 for everything else.
    rep_base,  with a REP/REPE/REPNE prefix on a string instruction: total = rep_base +
    rep_iter   rep_iter * n, n = iterations executed (0 allowed). rep_base includes the REP
               prefix's own clocks. Without the prefix the instruction costs `reg`.
    rep_zero,  80486/Pentium only: the documented total when the count is 0 (rep_zero) or 1
    rep_one    (rep_one), which the manuals print apart from the rep_base + rep_iter * n line.
               0 = no separate figure (use the formula).
    per_count  clocks per unit of a run-time count: shift/rotate count (CL or imm8), WAIT
               poll (8086: 3+5n), ENTER nesting level (see count_base), BSF/BSR bit (10+3n).
    count_base ENTER only: level L >= 2 costs count_base + per_count * (L - 1).
    reg_max,   upper bound of a documented data-dependent range (MUL, IMUL, DIV, IDIV; BOUND
    mem_max    on the 80186; ESC on the 80286/386). `reg`/`mem` then hold the documented MINIMUM,
               which is the representative value a CPU that does not model the data
               dependence should charge (docs/timing.md says why). 0 when the time is fixed.
    plus_m     1 if the documented figure is "n+m" (80286/80386 control transfers): add m, the
               length of the next instruction (80286: its bytes; 80386: its components, see
               next_instruction_components_386()). It applies to `taken` of a conditional
               transfer and to `reg`/`mem` of an unconditional one.
    word_transfers      8086/8088: word bus transfers done by the memory form (operand and stack).
    reg_word_transfers  8086/8088: word bus transfers done by the register / no-operand form
                        (stack pushes and pops, word I/O, far-pointer and vector reads).
    rep_word_transfers  8086/8088: word transfers per REP iteration.
               On the 8088 every word transfer costs 4 more clocks; table("8088") has already
               added them. On the 8086 a word transfer at an ODD address costs 4 more clocks;
               that depends on the run-time address, so the CPU adds it (docs/timing.md).
    """

    reg: int = 0
    mem: int = 0
    taken: int = 0
    rep_base: int = 0
    rep_iter: int = 0
    per_count: int = 0
    count_base: int = 0
    reg_max: int = 0
    mem_max: int = 0
    plus_m: int = 0
    word_transfers: int = 0
    reg_word_transfers: int = 0
    rep_word_transfers: int = 0
    rep_zero: int = 0
    rep_one: int = 0

    def as_tuple(self) -> tuple[int, ...]:
        """The fields in FIELDS order, for filling a C struct array."""
        return tuple(getattr(self, name) for name in FIELDS)


FIELDS = tuple(f.name for f in fields(Timing))
T = Timing


def _range(reg_lo, reg_hi, mem_lo=0, mem_hi=0, **kw) -> Timing:
    """A data-dependent documented range: the minimum is charged, the maximum recorded."""
    return Timing(reg=reg_lo, reg_max=reg_hi, mem=mem_lo, mem_max=mem_hi, **kw)


# ---------------------------------------------------------------------------------------------
# Instruction classes: which opcode keys share one line of the manuals' timing tables.
# A class name reads like the manual's line; the per-model tables below give its clocks.
# ---------------------------------------------------------------------------------------------

def _h(op: int) -> str:
    return f"{op:02X}"


def _g(op: int, regs) -> list[str]:
    return [f"{op:02X}.{r}" for r in regs]


def _x(*ops: int) -> list[str]:
    return [f"0F{op:02X}" for op in ops]


_ALU = (0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30)       # ADD OR ADC SBB AND SUB XOR
_ALU_REGS = range(7)                                   # group 80-83 /0../6; /7 is CMP
_SHIFT_REGS = (0, 1, 4, 5, 6, 7)                       # ROL ROR SHL SHR SAL(alias) SAR
_RCX_REGS = (2, 3)                                     # RCL RCR (slower on the 80386)

_COMMON: dict[str, list[str]] = {
    "alu_rm_r_b":     [_h(b) for b in _ALU],
    "alu_rm_r_w":     [_h(b + 1) for b in _ALU],
    "alu_r_rm_b":     [_h(b + 2) for b in _ALU],
    "alu_r_rm_w":     [_h(b + 3) for b in _ALU],
    "alu_acc_imm_b":  [_h(b + 4) for b in _ALU],
    "alu_acc_imm_w":  [_h(b + 5) for b in _ALU],
    "alu_rm_imm_b":   _g(0x80, _ALU_REGS) + _g(0x82, _ALU_REGS),
    "alu_rm_imm_w":   _g(0x81, _ALU_REGS) + _g(0x83, _ALU_REGS),
    "cmp_rm_r_b":     ["38"],
    "cmp_rm_r_w":     ["39"],
    "cmp_r_rm_b":     ["3A"],
    "cmp_r_rm_w":     ["3B"],
    "cmp_acc_imm_b":  ["3C"],
    "cmp_acc_imm_w":  ["3D"],
    "cmp_rm_imm_b":   ["80.7", "82.7"],
    "cmp_rm_imm_w":   ["81.7", "83.7"],
    "push_seg":       ["06", "0E", "16", "1E"],
    "pop_seg":        ["07", "17", "1F"],
    "seg_prefix":     ["26", "2E", "36", "3E"],
    "daa":            ["27"],
    "das":            ["2F"],
    "aaa":            ["37"],
    "aas":            ["3F"],
    "inc_dec_r16":    [_h(op) for op in range(0x40, 0x50)],
    "push_r16":       [_h(op) for op in range(0x50, 0x58)],
    "pop_r16":        [_h(op) for op in range(0x58, 0x60)],
    "jcc":            [_h(op) for op in range(0x70, 0x80)],
    "test_rm_r_b":    ["84"],
    "test_rm_r_w":    ["85"],
    "xchg_rm_r_b":    ["86"],
    "xchg_rm_r_w":    ["87"],
    "mov_rm_r_b":     ["88"],
    "mov_rm_r_w":     ["89"],
    "mov_r_rm_b":     ["8A"],
    "mov_r_rm_w":     ["8B"],
    "mov_rm_sreg":    ["8C"],
    "lea":            ["8D"],
    "mov_sreg_rm":    ["8E"],
    "pop_rm":         ["8F.0"],
    "nop":            ["90"],
    "xchg_ax_r":      [_h(op) for op in range(0x91, 0x98)],
    "cbw":            ["98"],
    "cwd":            ["99"],
    "call_far":       ["9A"],
    "wait":           ["9B"],
    "pushf":          ["9C"],
    "popf":           ["9D"],
    "sahf":           ["9E"],
    "lahf":           ["9F"],
    "mov_acc_moffs_b": ["A0"],
    "mov_acc_moffs_w": ["A1"],
    "mov_moffs_acc_b": ["A2"],
    "mov_moffs_acc_w": ["A3"],
    "movs_b":         ["A4"],
    "movs_w":         ["A5"],
    "cmps_b":         ["A6"],
    "cmps_w":         ["A7"],
    "test_acc_imm_b": ["A8"],
    "test_acc_imm_w": ["A9"],
    "stos_b":         ["AA"],
    "stos_w":         ["AB"],
    "lods_b":         ["AC"],
    "lods_w":         ["AD"],
    "scas_b":         ["AE"],
    "scas_w":         ["AF"],
    "mov_r_imm_b":    [_h(op) for op in range(0xB0, 0xB8)],
    "mov_r_imm_w":    [_h(op) for op in range(0xB8, 0xC0)],
    "ret_near_imm":   ["C2"],
    "ret_near":       ["C3"],
    "les":            ["C4"],
    "lds":            ["C5"],
    "mov_rm_imm_b":   ["C6.0"],
    "mov_rm_imm_w":   ["C7.0"],
    "ret_far_imm":    ["CA"],
    "ret_far":        ["CB"],
    "int3":           ["CC"],
    "int":            ["CD"],
    "into":           ["CE"],
    "iret":           ["CF"],
    "shift1_b":       _g(0xD0, _SHIFT_REGS),
    "shift1_w":       _g(0xD1, _SHIFT_REGS),
    "rcx1_b":         _g(0xD0, _RCX_REGS),
    "rcx1_w":         _g(0xD1, _RCX_REGS),
    "shiftcl_b":      _g(0xD2, _SHIFT_REGS),
    "shiftcl_w":      _g(0xD3, _SHIFT_REGS),
    "rcxcl_b":        _g(0xD2, _RCX_REGS),
    "rcxcl_w":        _g(0xD3, _RCX_REGS),
    "aam":            ["D4"],
    "aad":            ["D5"],
    "salc":           ["D6"],
    "xlat":           ["D7"],
    "esc":            [_h(op) for op in range(0xD8, 0xE0)],
    "loopne":         ["E0"],
    "loope":          ["E1"],
    "loop":           ["E2"],
    "jcxz":           ["E3"],
    "in_imm_b":       ["E4"],
    "in_imm_w":       ["E5"],
    "out_imm_b":      ["E6"],
    "out_imm_w":      ["E7"],
    "call_near":      ["E8"],
    "jmp_near":       ["E9"],
    "jmp_far":        ["EA"],
    "jmp_short":      ["EB"],
    "in_dx_b":        ["EC"],
    "in_dx_w":        ["ED"],
    "out_dx_b":       ["EE"],
    "out_dx_w":       ["EF"],
    "lock":           ["F0"],
    "rep":            ["F2", "F3"],
    "hlt":            ["F4"],
    "cmc":            ["F5"],
    "test_rm_imm_b":  ["F6.0", "F6.1"],                 # F6.1/F7.1: undocumented TEST alias
    "test_rm_imm_w":  ["F7.0", "F7.1"],
    "negnot_b":       ["F6.2", "F6.3"],
    "negnot_w":       ["F7.2", "F7.3"],
    "mul_b":          ["F6.4"],
    "mul_w":          ["F7.4"],
    "imul_b":         ["F6.5"],
    "imul_w":         ["F7.5"],
    "div_b":          ["F6.6"],
    "div_w":          ["F7.6"],
    "idiv_b":         ["F6.7"],
    "idiv_w":         ["F7.7"],
    "flag_op":        ["F8", "F9", "FC", "FD"],          # CLC STC CLD STD
    "cli":            ["FA"],
    "sti":            ["FB"],
    "incdec_rm_b":    ["FE.0", "FE.1"],
    "incdec_rm_w":    ["FF.0", "FF.1"],
    "call_near_rm":   ["FF.2"],
    "call_far_rm":    ["FF.3"],
    "jmp_near_rm":    ["FF.4"],
    "jmp_far_rm":     ["FF.5"],
    "push_rm":        ["FF.6"],
}

# Opcodes the 80186 added; the 80286 and 80386 keep them.
_NEW_186: dict[str, list[str]] = {
    "pusha":          ["60"],
    "popa":           ["61"],
    "bound":          ["62"],
    "push_imm":       ["68", "6A"],
    "imul_imm16":     ["69"],
    "imul_imm8":      ["6B"],
    "ins_b":          ["6C"],
    "ins_w":          ["6D"],
    "outs_b":         ["6E"],
    "outs_w":         ["6F"],
    "shiftimm_b":     _g(0xC0, _SHIFT_REGS),
    "shiftimm_w":     _g(0xC1, _SHIFT_REGS),
    "rcximm_b":       _g(0xC0, _RCX_REGS),
    "rcximm_w":       _g(0xC1, _RCX_REGS),
    "enter":          ["C8"],
    "leave":          ["C9"],
}

# The 80286 system instructions (0F00-0F06) and ARPL; the 80386 keeps all but LOADALL.
_NEW_286: dict[str, list[str]] = {
    "arpl":     ["63"],
    "sldt":     ["0F00.0"],
    "str":      ["0F00.1"],
    "lldt":     ["0F00.2"],
    "ltr":      ["0F00.3"],
    "verr":     ["0F00.4"],
    "verw":     ["0F00.5"],
    "sgdt":     ["0F01.0"],
    "sidt":     ["0F01.1"],
    "lgdt":     ["0F01.2"],
    "lidt":     ["0F01.3"],
    "smsw":     ["0F01.4"],
    "lmsw":     ["0F01.6"],
    "lar":      ["0F02"],
    "lsl":      ["0F03"],
    "clts":     ["0F06"],
}

_NEW_386: dict[str, list[str]] = {
    "seg_prefix":   ["64", "65"],                        # FS: GS: (joins the 8086 class)
    "opsize":       ["66"],
    "addrsize":     ["67"],
    "mov_r_cr":     _x(0x20),
    "mov_r_dr":     _x(0x21),
    "mov_cr_r":     _x(0x22),
    "mov_dr_r":     _x(0x23),
    "mov_r_tr":     _x(0x24),
    "mov_tr_r":     _x(0x26),
    "jcc_near":     _x(*range(0x80, 0x90)),
    "setcc":        _x(*range(0x90, 0xA0)),
    "push_fsgs":    _x(0xA0, 0xA8),
    "pop_fsgs":     _x(0xA1, 0xA9),
    "bt_rm_r":      _x(0xA3),
    "bts_rm_r":     _x(0xAB, 0xB3, 0xBB),                # BTS BTR BTC
    "bt_rm_imm":    ["0FBA.4"],
    "bts_rm_imm":   ["0FBA.5", "0FBA.6", "0FBA.7"],
    "shld_shrd":    _x(0xA4, 0xA5, 0xAC, 0xAD),
    "imul_r_rm":    _x(0xAF),
    "lss_lfs_lgs":  _x(0xB2, 0xB4, 0xB5),
    "movzx_movsx":  _x(0xB6, 0xB7, 0xBE, 0xBF),
    "bsf_bsr":      _x(0xBC, 0xBD),
}


def _merge(*parts: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in parts:
        for cls, keys in part.items():
            out[cls] = out.get(cls, []) + list(keys)
    return out


# The 8086/8088 decode every byte: the undocumented encodings act as the documented
# instruction they alias (conformance README section 4, metadata status "alias").
_CLASSES_8086 = _merge(_COMMON, {
    "jcc":          [_h(op) for op in range(0x60, 0x70)],   # 60-6F alias 70-7F
    "ret_near_imm": ["C0"],                                  # C0/C1 alias C2/C3
    "ret_near":     ["C1"],
    "ret_far_imm":  ["C8"],                                  # C8/C9 alias CA/CB
    "ret_far":      ["C9"],
    "pop_cs":       ["0F"],
    "lock":         ["F1"],                                  # F1 acts as LOCK
    "pop_rm":       _g(0x8F, range(1, 8)),                  # reg field ignored
    "mov_rm_imm_b": _g(0xC6, range(1, 8)),
    "mov_rm_imm_w": _g(0xC7, range(1, 8)),
    # FE /2../7 run the FF /2../7 microcode on a byte operand.
    "call_near_rm": ["FE.2"],
    "call_far_rm":  ["FE.3"],
    "jmp_near_rm":  ["FE.4"],
    "jmp_far_rm":   ["FE.5"],
    "push_rm":      ["FE.6", "FE.7", "FF.7"],               # FF.7 aliases PUSH r/m
})

_CLASSES_186 = _merge(_COMMON, _NEW_186, {
    "lock":    ["F1"],
    "push_rm": ["FF.7"],
})

_CLASSES_286 = _merge(_COMMON, _NEW_186, _NEW_286, {
    "lock":    ["F1"],
    "push_rm": ["FF.7"],
    "loadall": ["0F05"],
})

_CLASSES_386 = _merge(_COMMON, _NEW_186, _NEW_286, _NEW_386, {
    "icebp": ["F1"],
})


# ---------------------------------------------------------------------------------------------
# 8086 [86UM]. `mem` excludes EA. Transfers: the "Transfers" column of Table 2-21, counted as
# word transfers only for word-sized operands and for the stack / vector / far-pointer words.
# ---------------------------------------------------------------------------------------------

_CLOCKS_8086: dict[str, Timing] = {
    # ADD/OR/ADC/SBB/AND/SUB/XOR: reg,reg 3; reg,mem 9+EA (1 transfer); mem,reg 16+EA (2);
    # reg,imm / acc,imm 4; mem,imm 17+EA (2).
    "alu_rm_r_b": T(reg=3, mem=16),
    "alu_rm_r_w": T(reg=3, mem=16, word_transfers=2),
    "alu_r_rm_b": T(reg=3, mem=9),
    "alu_r_rm_w": T(reg=3, mem=9, word_transfers=1),
    "alu_acc_imm_b": T(reg=4),
    "alu_acc_imm_w": T(reg=4),
    "alu_rm_imm_b": T(reg=4, mem=17),
    "alu_rm_imm_w": T(reg=4, mem=17, word_transfers=2),
    # CMP: reg,reg 3; reg,mem / mem,reg 9+EA (1); reg,imm / acc,imm 4; mem,imm 10+EA (1).
    "cmp_rm_r_b": T(reg=3, mem=9),
    "cmp_rm_r_w": T(reg=3, mem=9, word_transfers=1),
    "cmp_r_rm_b": T(reg=3, mem=9),
    "cmp_r_rm_w": T(reg=3, mem=9, word_transfers=1),
    "cmp_acc_imm_b": T(reg=4),
    "cmp_acc_imm_w": T(reg=4),
    "cmp_rm_imm_b": T(reg=4, mem=10),
    "cmp_rm_imm_w": T(reg=4, mem=10, word_transfers=1),
    # PUSH segreg 10 (1 transfer); POP segreg 8 (1). POP CS (0F) is the POP segreg microcode.
    "push_seg": T(reg=10, reg_word_transfers=1),
    "pop_seg": T(reg=8, reg_word_transfers=1),
    "pop_cs": T(reg=8, reg_word_transfers=1),
    # Segment override prefix 2 clocks. This is the same 2 clocks as the EA table's "+2 for a
    # segment override": charge it once (docs/timing.md).
    "seg_prefix": T(reg=2),
    "daa": T(reg=4), "das": T(reg=4), "aaa": T(reg=4), "aas": T(reg=4),
    # INC/DEC reg16 2; PUSH reg 11 (1); POP reg 8 (1).
    "inc_dec_r16": T(reg=2),
    "push_r16": T(reg=11, reg_word_transfers=1),
    "pop_r16": T(reg=8, reg_word_transfers=1),
    # Jcc: 16 taken, 4 not taken.
    "jcc": T(reg=4, taken=16),
    # TEST reg,reg 3; reg,mem 9+EA (1).
    "test_rm_r_b": T(reg=3, mem=9),
    "test_rm_r_w": T(reg=3, mem=9, word_transfers=1),
    # XCHG reg,reg 4; mem,reg 17+EA (2); AX,reg16 3.
    "xchg_rm_r_b": T(reg=4, mem=17),
    "xchg_rm_r_w": T(reg=4, mem=17, word_transfers=2),
    # MOV reg,reg 2; mem,reg 9+EA (1); reg,mem 8+EA (1); segreg forms the same.
    "mov_rm_r_b": T(reg=2, mem=9),
    "mov_rm_r_w": T(reg=2, mem=9, word_transfers=1),
    "mov_r_rm_b": T(reg=2, mem=8),
    "mov_r_rm_w": T(reg=2, mem=8, word_transfers=1),
    "mov_rm_sreg": T(reg=2, mem=9, word_transfers=1),
    "mov_sreg_rm": T(reg=2, mem=8, word_transfers=1),
    # LEA 2+EA. The register form is undefined on the 8086; charged like the memory form.
    "lea": T(reg=2, mem=2),
    # POP mem 17+EA (2 transfers); POP reg 8 (1). 8F with a register operand uses the latter.
    "pop_rm": T(reg=8, mem=17, word_transfers=2, reg_word_transfers=1),
    "nop": T(reg=3),
    "xchg_ax_r": T(reg=3),
    "cbw": T(reg=2),
    "cwd": T(reg=5),
    # CALL far-proc 28 (2 transfers).
    "call_far": T(reg=28, reg_word_transfers=2),
    # WAIT 3+5n, n = number of 5-clock polls of TEST# while it is inactive.
    "wait": T(reg=3, per_count=5),
    "pushf": T(reg=10, reg_word_transfers=1),
    "popf": T(reg=8, reg_word_transfers=1),
    "sahf": T(reg=4),
    "lahf": T(reg=4),
    # MOV acc,mem / mem,acc 10 (1 transfer).
    "mov_acc_moffs_b": T(reg=10),
    "mov_acc_moffs_w": T(reg=10, reg_word_transfers=1),
    "mov_moffs_acc_b": T(reg=10),
    "mov_moffs_acc_w": T(reg=10, reg_word_transfers=1),
    # String primitives: single 18/22/11/12/15; repeated 9+17/rep, 9+22/rep, 9+10/rep,
    # 9+13/rep, 9+15/rep (MOVS, CMPS, STOS, LODS, SCAS). Transfers per element: 2,2,1,1,1.
    "movs_b": T(reg=18, rep_base=9, rep_iter=17),
    "movs_w": T(reg=18, rep_base=9, rep_iter=17, reg_word_transfers=2, rep_word_transfers=2),
    "cmps_b": T(reg=22, rep_base=9, rep_iter=22),
    "cmps_w": T(reg=22, rep_base=9, rep_iter=22, reg_word_transfers=2, rep_word_transfers=2),
    "stos_b": T(reg=11, rep_base=9, rep_iter=10),
    "stos_w": T(reg=11, rep_base=9, rep_iter=10, reg_word_transfers=1, rep_word_transfers=1),
    "lods_b": T(reg=12, rep_base=9, rep_iter=13),
    "lods_w": T(reg=12, rep_base=9, rep_iter=13, reg_word_transfers=1, rep_word_transfers=1),
    "scas_b": T(reg=15, rep_base=9, rep_iter=15),
    "scas_w": T(reg=15, rep_base=9, rep_iter=15, reg_word_transfers=1, rep_word_transfers=1),
    "test_acc_imm_b": T(reg=4),
    "test_acc_imm_w": T(reg=4),
    "mov_r_imm_b": T(reg=4),
    "mov_r_imm_w": T(reg=4),
    # RET intra 16, intra+pop 20, inter 26, inter+pop 25 (the iAPX 86,88 figures; they are
    # the 8088 figures of [86PR] minus 4 per transfer, and match the hardware).
    "ret_near_imm": T(reg=20, reg_word_transfers=1),
    "ret_near": T(reg=16, reg_word_transfers=1),
    "ret_far_imm": T(reg=25, reg_word_transfers=2),
    "ret_far": T(reg=26, reg_word_transfers=2),
    # LES/LDS 16+EA (2). Register form undefined on the 8086; charged like the memory form.
    "les": T(reg=16, mem=16, word_transfers=2),
    "lds": T(reg=16, mem=16, word_transfers=2),
    # MOV mem,imm 10+EA (1); the register form runs like MOV reg,imm (4).
    "mov_rm_imm_b": T(reg=4, mem=10),
    "mov_rm_imm_w": T(reg=4, mem=10, word_transfers=1),
    # INT 3: 52, INT n: 51 (5 transfers: 3 pushes, 2 vector words); INTO 53 taken / 4;
    # IRET 24 (3 transfers).
    "int3": T(reg=52, reg_word_transfers=5),
    "int": T(reg=51, reg_word_transfers=5),
    "into": T(reg=4, taken=53),
    "iret": T(reg=24, reg_word_transfers=3),
    # Shift/rotate: reg,1 2; mem,1 15+EA (2); reg,CL 8+4/bit; mem,CL 20+EA+4/bit (2).
    # D0-D3 /6 (undocumented SETMO/SETMOC) share the shift microcode and are charged alike.
    "shift1_b": T(reg=2, mem=15),
    "shift1_w": T(reg=2, mem=15, word_transfers=2),
    "rcx1_b": T(reg=2, mem=15),
    "rcx1_w": T(reg=2, mem=15, word_transfers=2),
    "shiftcl_b": T(reg=8, mem=20, per_count=4),
    "shiftcl_w": T(reg=8, mem=20, per_count=4, word_transfers=2),
    "rcxcl_b": T(reg=8, mem=20, per_count=4),
    "rcxcl_w": T(reg=8, mem=20, per_count=4, word_transfers=2),
    "aam": T(reg=83),
    "aad": T(reg=60),
    # SALC is undocumented: charged as its documented equivalent SBB AL,AL (reg,reg 3).
    "salc": T(reg=3),
    "xlat": T(reg=11),
    # ESC: register 2; memory 8+EA (1 transfer; the 8086 reads the operand for the 8087).
    "esc": T(reg=2, mem=8, word_transfers=1),
    # LOOPNE 19/5, LOOPE 18/6, LOOP 17/5, JCXZ 18/6 (taken / not taken).
    "loopne": T(reg=5, taken=19),
    "loope": T(reg=6, taken=18),
    "loop": T(reg=5, taken=17),
    "jcxz": T(reg=6, taken=18),
    # IN/OUT fixed port 10, variable (DX) port 8; a word port access is 1 word transfer.
    "in_imm_b": T(reg=10),
    "in_imm_w": T(reg=10, reg_word_transfers=1),
    "out_imm_b": T(reg=10),
    "out_imm_w": T(reg=10, reg_word_transfers=1),
    "in_dx_b": T(reg=8),
    "in_dx_w": T(reg=8, reg_word_transfers=1),
    "out_dx_b": T(reg=8),
    "out_dx_w": T(reg=8, reg_word_transfers=1),
    # CALL near-proc 19 (1); JMP short/near/far label 15.
    "call_near": T(reg=19, reg_word_transfers=1),
    "jmp_near": T(reg=15),
    "jmp_far": T(reg=15),
    "jmp_short": T(reg=15),
    # LOCK 2; REP/REPNE 2 as a prefix (a REP string op's rep_base already contains it).
    "lock": T(reg=2),
    "rep": T(reg=2),
    "hlt": T(reg=2),
    "cmc": T(reg=2),
    # TEST reg,imm 5; mem,imm 11+EA (1). NEG/NOT reg 3; mem 16+EA (2).
    "test_rm_imm_b": T(reg=5, mem=11),
    "test_rm_imm_w": T(reg=5, mem=11, word_transfers=1),
    "negnot_b": T(reg=3, mem=16),
    "negnot_w": T(reg=3, mem=16, word_transfers=2),
    # MUL 70-77 / (76-83)+EA, 118-133 / (124-139)+EA; IMUL 80-98 / (86-104)+EA,
    # 128-154 / (134-160)+EA; DIV 80-90 / (86-96)+EA, 144-162 / (150-168)+EA;
    # IDIV 101-112 / (107-118)+EA, 165-184 / (171-190)+EA.
    "mul_b": _range(70, 77, 76, 83),
    "mul_w": _range(118, 133, 124, 139, word_transfers=1),
    "imul_b": _range(80, 98, 86, 104),
    "imul_w": _range(128, 154, 134, 160, word_transfers=1),
    "div_b": _range(80, 90, 86, 96),
    "div_w": _range(144, 162, 150, 168, word_transfers=1),
    "idiv_b": _range(101, 112, 107, 118),
    "idiv_w": _range(165, 184, 171, 190, word_transfers=1),
    "flag_op": T(reg=2),
    "cli": T(reg=2),
    "sti": T(reg=2),
    # INC/DEC reg8 3, reg16 2, mem 15+EA (2).
    "incdec_rm_b": T(reg=3, mem=15),
    "incdec_rm_w": T(reg=2, mem=15, word_transfers=2),
    # CALL regptr16 16 (1), memptr16 21+EA (2), memptr32 37+EA (4);
    # JMP regptr16 11, memptr16 18+EA (1), memptr32 24+EA (2); PUSH reg 11, mem 16+EA (2).
    # FF /3 and /5 with a register operand are undefined; charged like the memory form.
    "call_near_rm": T(reg=16, mem=21, word_transfers=2, reg_word_transfers=1),
    "call_far_rm": T(reg=37, mem=37, word_transfers=4, reg_word_transfers=4),
    "jmp_near_rm": T(reg=11, mem=18, word_transfers=1),
    "jmp_far_rm": T(reg=24, mem=24, word_transfers=2, reg_word_transfers=2),
    "push_rm": T(reg=11, mem=16, word_transfers=2, reg_word_transfers=1),
}

# 8088 figures that the +4-per-word-transfer rule does not give [86PR]:
_OVERRIDES_8088: dict[str, dict[str, int]] = {
    "iret": {"reg": 44},        # IRET page: "(44)"; 24 + 3*4 would give 36
    "into": {"taken": 73},      # INTO taken: 53 + 5 word transfers * 4
}


# ---------------------------------------------------------------------------------------------
# 80186 [186DS]. Clocks include the EA. 0 in reg/mem: that form raises #UD on this CPU.
# ---------------------------------------------------------------------------------------------

_CLOCKS_186: dict[str, Timing] = {
    # Reg/mem with register 3/10; immediate to reg/mem 4/16; immediate to accumulator 3/4.
    "alu_rm_r_b": T(reg=3, mem=10), "alu_rm_r_w": T(reg=3, mem=10),
    "alu_r_rm_b": T(reg=3, mem=10), "alu_r_rm_w": T(reg=3, mem=10),
    "alu_acc_imm_b": T(reg=3), "alu_acc_imm_w": T(reg=4),
    "alu_rm_imm_b": T(reg=4, mem=16), "alu_rm_imm_w": T(reg=4, mem=16),
    # CMP reg/mem with register 3/10; immediate with reg/mem 3/10; with accumulator 3/4.
    "cmp_rm_r_b": T(reg=3, mem=10), "cmp_rm_r_w": T(reg=3, mem=10),
    "cmp_r_rm_b": T(reg=3, mem=10), "cmp_r_rm_w": T(reg=3, mem=10),
    "cmp_acc_imm_b": T(reg=3), "cmp_acc_imm_w": T(reg=4),
    "cmp_rm_imm_b": T(reg=3, mem=10), "cmp_rm_imm_w": T(reg=3, mem=10),
    "push_seg": T(reg=9), "pop_seg": T(reg=8),
    "seg_prefix": T(reg=2),
    "daa": T(reg=4), "das": T(reg=4), "aaa": T(reg=8), "aas": T(reg=7),
    "inc_dec_r16": T(reg=3),
    "push_r16": T(reg=10), "pop_r16": T(reg=10),
    "jcc": T(reg=4, taken=13),
    "pusha": T(reg=36), "popa": T(reg=51),
    # BOUND 33-35 when in range (memory operand only); out of range adds the INT 5 delivery.
    "bound": _range(0, 0, 33, 35),
    "push_imm": T(reg=10),
    # IMUL reg, r/m, imm: 22-25 / 29-32.
    "imul_imm16": _range(22, 25, 29, 32), "imul_imm8": _range(22, 25, 29, 32),
    # INS / OUTS 14; REP 8+8n.
    "ins_b": T(reg=14, rep_base=8, rep_iter=8), "ins_w": T(reg=14, rep_base=8, rep_iter=8),
    "outs_b": T(reg=14, rep_base=8, rep_iter=8), "outs_w": T(reg=14, rep_base=8, rep_iter=8),
    "test_rm_r_b": T(reg=3, mem=10), "test_rm_r_w": T(reg=3, mem=10),
    "xchg_rm_r_b": T(reg=4, mem=17), "xchg_rm_r_w": T(reg=4, mem=17),
    # MOV reg,reg 2; mem->reg 9; reg->mem 12; segment register 2/9 (to) and 2/11 (from).
    "mov_rm_r_b": T(reg=2, mem=12), "mov_rm_r_w": T(reg=2, mem=12),
    "mov_r_rm_b": T(reg=2, mem=9), "mov_r_rm_w": T(reg=2, mem=9),
    "mov_rm_sreg": T(reg=2, mem=11), "mov_sreg_rm": T(reg=2, mem=9),
    "lea": T(mem=6),
    "pop_rm": T(reg=10, mem=20),
    "nop": T(reg=3), "xchg_ax_r": T(reg=3),
    "cbw": T(reg=2), "cwd": T(reg=4),
    "call_far": T(reg=23),
    "wait": T(reg=6),
    "pushf": T(reg=9), "popf": T(reg=8), "sahf": T(reg=3), "lahf": T(reg=2),
    "mov_acc_moffs_b": T(reg=8), "mov_acc_moffs_w": T(reg=8),
    "mov_moffs_acc_b": T(reg=9), "mov_moffs_acc_w": T(reg=9),
    # MOVS 14, REP 8+8n; CMPS 22, REP 5+22n; STOS 10, REP 6+9n; LODS 12, REP 6+11n;
    # SCAS 15, REP 5+15n.
    "movs_b": T(reg=14, rep_base=8, rep_iter=8), "movs_w": T(reg=14, rep_base=8, rep_iter=8),
    "cmps_b": T(reg=22, rep_base=5, rep_iter=22), "cmps_w": T(reg=22, rep_base=5, rep_iter=22),
    "stos_b": T(reg=10, rep_base=6, rep_iter=9), "stos_w": T(reg=10, rep_base=6, rep_iter=9),
    "lods_b": T(reg=12, rep_base=6, rep_iter=11), "lods_w": T(reg=12, rep_base=6, rep_iter=11),
    "scas_b": T(reg=15, rep_base=5, rep_iter=15), "scas_w": T(reg=15, rep_base=5, rep_iter=15),
    "test_acc_imm_b": T(reg=3), "test_acc_imm_w": T(reg=4),
    "mov_r_imm_b": T(reg=3), "mov_r_imm_w": T(reg=4),
    "ret_near_imm": T(reg=18), "ret_near": T(reg=16),
    "ret_far_imm": T(reg=25), "ret_far": T(reg=22),
    "les": T(mem=18), "lds": T(mem=18),
    # MOV immediate to register/memory 12-13: 12 byte, 13 word; to a register 3/4.
    "mov_rm_imm_b": T(reg=3, mem=12), "mov_rm_imm_w": T(reg=4, mem=13),
    # ENTER L=0 15, L=1 25, L>1 22+16(L-1). LEAVE 8.
    "enter": T(reg=15, mem=25, count_base=22, per_count=16),
    "leave": T(reg=8),
    "int3": T(reg=45), "int": T(reg=47), "into": T(reg=4, taken=48), "iret": T(reg=28),
    # Shift/rotate by 1: 2/15; by CL or imm8: 5+n / 17+n.
    "shift1_b": T(reg=2, mem=15), "shift1_w": T(reg=2, mem=15),
    "rcx1_b": T(reg=2, mem=15), "rcx1_w": T(reg=2, mem=15),
    "shiftcl_b": T(reg=5, mem=17, per_count=1), "shiftcl_w": T(reg=5, mem=17, per_count=1),
    "rcxcl_b": T(reg=5, mem=17, per_count=1), "rcxcl_w": T(reg=5, mem=17, per_count=1),
    "shiftimm_b": T(reg=5, mem=17, per_count=1), "shiftimm_w": T(reg=5, mem=17, per_count=1),
    "rcximm_b": T(reg=5, mem=17, per_count=1), "rcximm_w": T(reg=5, mem=17, per_count=1),
    "aam": T(reg=19), "aad": T(reg=15),
    "salc": T(reg=3),                                      # as SBB AL,AL (undocumented)
    "xlat": T(reg=11),
    "esc": T(reg=6, mem=6),
    "loopne": T(reg=6, taken=16), "loope": T(reg=6, taken=16),
    "loop": T(reg=5, taken=15), "jcxz": T(reg=6, taken=16),
    "in_imm_b": T(reg=10), "in_imm_w": T(reg=10),
    "out_imm_b": T(reg=9), "out_imm_w": T(reg=9),
    "in_dx_b": T(reg=8), "in_dx_w": T(reg=8),
    "out_dx_b": T(reg=7), "out_dx_w": T(reg=7),
    # JMP direct 14 (one secondary copy of the table prints 13).
    "call_near": T(reg=15),
    "jmp_near": T(reg=14), "jmp_far": T(reg=14), "jmp_short": T(reg=14),
    "lock": T(reg=2), "rep": T(reg=2),
    "hlt": T(reg=2), "cmc": T(reg=2),
    "test_rm_imm_b": T(reg=4, mem=10), "test_rm_imm_w": T(reg=4, mem=10),
    "negnot_b": T(reg=3, mem=10), "negnot_w": T(reg=3, mem=10),
    "mul_b": _range(26, 28, 32, 34), "mul_w": _range(35, 37, 41, 43),
    "imul_b": _range(25, 28, 31, 34), "imul_w": _range(34, 37, 40, 43),
    "div_b": T(reg=29, mem=35), "div_w": T(reg=38, mem=44),
    "idiv_b": _range(44, 52, 50, 58), "idiv_w": _range(53, 61, 59, 67),
    "flag_op": T(reg=2), "cli": T(reg=2), "sti": T(reg=2),
    "incdec_rm_b": T(reg=3, mem=15), "incdec_rm_w": T(reg=3, mem=15),
    "call_near_rm": T(reg=13, mem=19), "call_far_rm": T(mem=38),
    "jmp_near_rm": T(reg=11, mem=17), "jmp_far_rm": T(mem=26),
    "push_rm": T(reg=10, mem=16),
}


# ---------------------------------------------------------------------------------------------
# 80286 [286PRM], real-address mode. Clocks include the EA; plus_m marks "+m".
# Protected-mode-only instructions carry their protected-mode figure (REAL_MODE_UD lists them).
# ---------------------------------------------------------------------------------------------

M = 1   # plus_m

_CLOCKS_286: dict[str, Timing] = {
    # ADD etc. eb,rb / rb,eb: 2, mem=7; AL/AX,imm 3; eb,db: 3, mem=7.
    "alu_rm_r_b": T(reg=2, mem=7), "alu_rm_r_w": T(reg=2, mem=7),
    "alu_r_rm_b": T(reg=2, mem=7), "alu_r_rm_w": T(reg=2, mem=7),
    "alu_acc_imm_b": T(reg=3), "alu_acc_imm_w": T(reg=3),
    "alu_rm_imm_b": T(reg=3, mem=7), "alu_rm_imm_w": T(reg=3, mem=7),
    # CMP eb,rb 2, mem=7; rb,eb 2, mem=6; eb,db 3, mem=6; AL,db 3.
    "cmp_rm_r_b": T(reg=2, mem=7), "cmp_rm_r_w": T(reg=2, mem=7),
    "cmp_r_rm_b": T(reg=2, mem=6), "cmp_r_rm_w": T(reg=2, mem=6),
    "cmp_acc_imm_b": T(reg=3), "cmp_acc_imm_w": T(reg=3),
    "cmp_rm_imm_b": T(reg=3, mem=6), "cmp_rm_imm_w": T(reg=3, mem=6),
    # PUSH segreg 3; POP segreg 5 (real mode; pm=20).
    "push_seg": T(reg=3), "pop_seg": T(reg=5),
    # Segment override, LOCK and REP prefixes: 0 clocks (their byte is fetched like any other).
    "seg_prefix": T(reg=0),
    "daa": T(reg=3), "das": T(reg=3), "aaa": T(reg=3), "aas": T(reg=3),
    "inc_dec_r16": T(reg=2),
    "push_r16": T(reg=3), "pop_r16": T(reg=5),
    # Jcc 7+m taken, 3 not taken.
    "jcc": T(reg=3, taken=7, plus_m=M),
    "pusha": T(reg=17), "popa": T(reg=19),
    # BOUND 13 in range; out of range: INT 5 (interrupt_timing()["exception"]).
    "bound": T(mem=13),
    "push_imm": T(reg=3),
    "imul_imm16": T(reg=21, mem=24), "imul_imm8": T(reg=21, mem=24),
    # INS / OUTS 5; REP 5+4n.
    "ins_b": T(reg=5, rep_base=5, rep_iter=4), "ins_w": T(reg=5, rep_base=5, rep_iter=4),
    "outs_b": T(reg=5, rep_base=5, rep_iter=4), "outs_w": T(reg=5, rep_base=5, rep_iter=4),
    "test_rm_r_b": T(reg=2, mem=6), "test_rm_r_w": T(reg=2, mem=6),
    "xchg_rm_r_b": T(reg=3, mem=5), "xchg_rm_r_w": T(reg=3, mem=5),
    # MOV eb,rb 2, mem=3; rb,eb 2, mem=5; segreg loads 2, mem=5 (real mode; pm=17,19).
    "mov_rm_r_b": T(reg=2, mem=3), "mov_rm_r_w": T(reg=2, mem=3),
    "mov_r_rm_b": T(reg=2, mem=5), "mov_r_rm_w": T(reg=2, mem=5),
    "mov_rm_sreg": T(reg=2, mem=3), "mov_sreg_rm": T(reg=2, mem=5),
    "lea": T(mem=3),
    "pop_rm": T(reg=5, mem=5),
    "nop": T(reg=3), "xchg_ax_r": T(reg=3),
    "cbw": T(reg=2), "cwd": T(reg=2),
    # CALL cd (far direct) 13+m real mode (pm=26+m).
    "call_far": T(reg=13, plus_m=M),
    "wait": T(reg=3),
    "pushf": T(reg=3), "popf": T(reg=5), "sahf": T(reg=2), "lahf": T(reg=2),
    "mov_acc_moffs_b": T(reg=5), "mov_acc_moffs_w": T(reg=5),
    "mov_moffs_acc_b": T(reg=3), "mov_moffs_acc_w": T(reg=3),
    # MOVS 5, REP 5+4n; CMPS 8, REP 5+9n; STOS 3, REP 4+3n; LODS 5, REP 5+4n; SCAS 7, REP 5+8n.
    "movs_b": T(reg=5, rep_base=5, rep_iter=4), "movs_w": T(reg=5, rep_base=5, rep_iter=4),
    "cmps_b": T(reg=8, rep_base=5, rep_iter=9), "cmps_w": T(reg=8, rep_base=5, rep_iter=9),
    "stos_b": T(reg=3, rep_base=4, rep_iter=3), "stos_w": T(reg=3, rep_base=4, rep_iter=3),
    "lods_b": T(reg=5, rep_base=5, rep_iter=4), "lods_w": T(reg=5, rep_base=5, rep_iter=4),
    "scas_b": T(reg=7, rep_base=5, rep_iter=8), "scas_w": T(reg=7, rep_base=5, rep_iter=8),
    "test_acc_imm_b": T(reg=3), "test_acc_imm_w": T(reg=3),
    "mov_r_imm_b": T(reg=2), "mov_r_imm_w": T(reg=2),
    # RET near 11+m (with imm the same); far 15+m real mode (pm=25+m, 55 to outer level).
    "ret_near_imm": T(reg=11, plus_m=M), "ret_near": T(reg=11, plus_m=M),
    "ret_far_imm": T(reg=15, plus_m=M), "ret_far": T(reg=15, plus_m=M),
    # LES/LDS 7 real mode (pm=21).
    "les": T(mem=7), "lds": T(mem=7),
    "mov_rm_imm_b": T(reg=2, mem=3), "mov_rm_imm_w": T(reg=2, mem=3),
    # ENTER 11 (L=0), 15 (L=1), 12+4(L-1); LEAVE 5.
    "enter": T(reg=11, mem=15, count_base=12, per_count=4),
    "leave": T(reg=5),
    # INT 3 / INT n 23+m real mode; INTO 24+m taken, 3 not; IRET 17+m real mode.
    "int3": T(reg=23, plus_m=M), "int": T(reg=23, plus_m=M),
    "into": T(reg=3, taken=24, plus_m=M), "iret": T(reg=17, plus_m=M),
    # Shift/rotate by 1: 2, mem=7; by CL or imm8: 5+n, mem=8+n (the 286 masks n to 5 bits).
    "shift1_b": T(reg=2, mem=7), "shift1_w": T(reg=2, mem=7),
    "rcx1_b": T(reg=2, mem=7), "rcx1_w": T(reg=2, mem=7),
    "shiftcl_b": T(reg=5, mem=8, per_count=1), "shiftcl_w": T(reg=5, mem=8, per_count=1),
    "rcxcl_b": T(reg=5, mem=8, per_count=1), "rcxcl_w": T(reg=5, mem=8, per_count=1),
    "shiftimm_b": T(reg=5, mem=8, per_count=1), "shiftimm_w": T(reg=5, mem=8, per_count=1),
    "rcximm_b": T(reg=5, mem=8, per_count=1), "rcximm_w": T(reg=5, mem=8, per_count=1),
    "aam": T(reg=16), "aad": T(reg=14),
    "salc": T(reg=2),                                      # as SBB AL,AL (undocumented)
    "xlat": T(reg=5),
    # ESC: the integer unit's part of a coprocessor instruction, 9-20 depending on the
    # coprocessor handshake (docs/timing.md: approximated).
    "esc": _range(9, 20, 9, 20),
    # LOOP/LOOPE/LOOPNE 8+m, noj=4; JCXZ 8+m, noj=4.
    "loopne": T(reg=4, taken=8, plus_m=M), "loope": T(reg=4, taken=8, plus_m=M),
    "loop": T(reg=4, taken=8, plus_m=M), "jcxz": T(reg=4, taken=8, plus_m=M),
    # IN 5, OUT 3 (both port forms).
    "in_imm_b": T(reg=5), "in_imm_w": T(reg=5), "in_dx_b": T(reg=5), "in_dx_w": T(reg=5),
    "out_imm_b": T(reg=3), "out_imm_w": T(reg=3), "out_dx_b": T(reg=3), "out_dx_w": T(reg=3),
    # CALL near 7+m; JMP short/near 7+m; JMP far direct 11+m real mode (pm=23+m).
    "call_near": T(reg=7, plus_m=M),
    "jmp_near": T(reg=7, plus_m=M), "jmp_far": T(reg=11, plus_m=M),
    "jmp_short": T(reg=7, plus_m=M),
    "lock": T(reg=0), "rep": T(reg=0),
    "hlt": T(reg=2), "cmc": T(reg=2),
    "test_rm_imm_b": T(reg=3, mem=6), "test_rm_imm_w": T(reg=3, mem=6),
    "negnot_b": T(reg=2, mem=7), "negnot_w": T(reg=2, mem=7),
    # MUL/IMUL byte 13, mem=16; word 21, mem=24. DIV 14/17, 22/25. IDIV 17/20, 25/28.
    "mul_b": T(reg=13, mem=16), "mul_w": T(reg=21, mem=24),
    "imul_b": T(reg=13, mem=16), "imul_w": T(reg=21, mem=24),
    "div_b": T(reg=14, mem=17), "div_w": T(reg=22, mem=25),
    "idiv_b": T(reg=17, mem=20), "idiv_w": T(reg=25, mem=28),
    "flag_op": T(reg=2), "cli": T(reg=3), "sti": T(reg=2),
    "incdec_rm_b": T(reg=2, mem=7), "incdec_rm_w": T(reg=2, mem=7),
    # CALL ew 7+m, mem=11+m; CALL ed (far indirect) 16+m real mode (pm=29+m).
    # JMP ew 7+m, mem=11+m; JMP ed 15+m real mode (pm=26+m). PUSH mem 5.
    "call_near_rm": T(reg=7, mem=11, plus_m=M), "call_far_rm": T(mem=16, plus_m=M),
    "jmp_near_rm": T(reg=7, mem=11, plus_m=M), "jmp_far_rm": T(mem=15, plus_m=M),
    "push_rm": T(reg=3, mem=5),
    # System instructions. SGDT 11, SIDT 12, LGDT 11, LIDT 12 (memory only); SMSW 2, mem=3;
    # LMSW 3, mem=6; CLTS 2; LOADALL 195 (undocumented, Intel's LOADALL note).
    # SLDT 2/3, STR 2/3, LLDT 17/19, LTR 17/19, VERR 14/16, VERW 14/16, LAR 14/16, LSL 14/16,
    # ARPL 10/11: protected mode only (REAL_MODE_UD).
    "sgdt": T(mem=11), "sidt": T(mem=12), "lgdt": T(mem=11), "lidt": T(mem=12),
    "smsw": T(reg=2, mem=3), "lmsw": T(reg=3, mem=6), "clts": T(reg=2),
    "loadall": T(reg=195),
    "sldt": T(reg=2, mem=3), "str": T(reg=2, mem=3),
    "lldt": T(reg=17, mem=19), "ltr": T(reg=17, mem=19),
    "verr": T(reg=14, mem=16), "verw": T(reg=14, mem=16),
    "lar": T(reg=14, mem=16), "lsl": T(reg=14, mem=16),
    "arpl": T(reg=10, mem=11),
}


# ---------------------------------------------------------------------------------------------
# 80386 [386PRM], real-address mode, 16-bit operand size (see _OPSIZE32_386 for 32-bit).
# ---------------------------------------------------------------------------------------------

_CLOCKS_386: dict[str, Timing] = {
    # ADD etc. r/m,r 2/7; r,r/m 2/6; r/m,imm 2/7; acc,imm 2.
    "alu_rm_r_b": T(reg=2, mem=7), "alu_rm_r_w": T(reg=2, mem=7),
    "alu_r_rm_b": T(reg=2, mem=6), "alu_r_rm_w": T(reg=2, mem=6),
    "alu_acc_imm_b": T(reg=2), "alu_acc_imm_w": T(reg=2),
    "alu_rm_imm_b": T(reg=2, mem=7), "alu_rm_imm_w": T(reg=2, mem=7),
    # CMP r/m,r 2/5; r,r/m 2/6; r/m,imm 2/5; acc,imm 2.
    "cmp_rm_r_b": T(reg=2, mem=5), "cmp_rm_r_w": T(reg=2, mem=5),
    "cmp_r_rm_b": T(reg=2, mem=6), "cmp_r_rm_w": T(reg=2, mem=6),
    "cmp_acc_imm_b": T(reg=2), "cmp_acc_imm_w": T(reg=2),
    "cmp_rm_imm_b": T(reg=2, mem=5), "cmp_rm_imm_w": T(reg=2, mem=5),
    # PUSH segreg 2; POP DS/ES/SS 7 real mode (pm=21); FS/GS the same.
    "push_seg": T(reg=2), "pop_seg": T(reg=7),
    "push_fsgs": T(reg=2), "pop_fsgs": T(reg=7),
    "seg_prefix": T(reg=0), "opsize": T(reg=0), "addrsize": T(reg=0),
    "daa": T(reg=4), "das": T(reg=4), "aaa": T(reg=4), "aas": T(reg=4),
    "inc_dec_r16": T(reg=2),
    "push_r16": T(reg=2), "pop_r16": T(reg=4),
    # Jcc rel8 and rel16/32: 7+m taken, 3 not taken.
    "jcc": T(reg=3, taken=7, plus_m=M), "jcc_near": T(reg=3, taken=7, plus_m=M),
    "pusha": T(reg=18), "popa": T(reg=24),
    "bound": T(mem=10),
    "push_imm": T(reg=2),
    # IMUL r,r/m,imm8 9-14/12-17; r,r/m,imm16 9-22/12-25 (early-out, see mul_cycles_386).
    "imul_imm16": _range(9, 22, 12, 25), "imul_imm8": _range(9, 14, 12, 17),
    # INS 15, REP 13+6n; OUTS 14, REP 5+12n (real-mode figures as printed).
    "ins_b": T(reg=15, rep_base=13, rep_iter=6), "ins_w": T(reg=15, rep_base=13, rep_iter=6),
    "outs_b": T(reg=14, rep_base=5, rep_iter=12), "outs_w": T(reg=14, rep_base=5, rep_iter=12),
    "test_rm_r_b": T(reg=2, mem=5), "test_rm_r_w": T(reg=2, mem=5),
    "xchg_rm_r_b": T(reg=3, mem=5), "xchg_rm_r_w": T(reg=3, mem=5),
    # MOV r/m,r 2/2; r,r/m 2/4; Sreg,r/m 2/5 real mode (pm=18/19); r/m,Sreg 2/2.
    "mov_rm_r_b": T(reg=2, mem=2), "mov_rm_r_w": T(reg=2, mem=2),
    "mov_r_rm_b": T(reg=2, mem=4), "mov_r_rm_w": T(reg=2, mem=4),
    "mov_rm_sreg": T(reg=2, mem=2), "mov_sreg_rm": T(reg=2, mem=5),
    "lea": T(mem=2),
    "pop_rm": T(reg=4, mem=5),
    "nop": T(reg=3), "xchg_ax_r": T(reg=3),
    "cbw": T(reg=3), "cwd": T(reg=2),
    # CALL ptr16:16 17+m real mode (pm=34+m).
    "call_far": T(reg=17, plus_m=M),
    "wait": T(reg=6),
    "pushf": T(reg=4), "popf": T(reg=5), "sahf": T(reg=3), "lahf": T(reg=2),
    "mov_acc_moffs_b": T(reg=4), "mov_acc_moffs_w": T(reg=4),
    "mov_moffs_acc_b": T(reg=2), "mov_moffs_acc_w": T(reg=2),
    # MOVS 7, REP 5+4n; CMPS 10, REP 5+9n; STOS 4, REP 5+5n; LODS 5, REP 5+6n;
    # SCAS 7, REP 5+8n.
    "movs_b": T(reg=7, rep_base=5, rep_iter=4), "movs_w": T(reg=7, rep_base=5, rep_iter=4),
    "cmps_b": T(reg=10, rep_base=5, rep_iter=9), "cmps_w": T(reg=10, rep_base=5, rep_iter=9),
    "stos_b": T(reg=4, rep_base=5, rep_iter=5), "stos_w": T(reg=4, rep_base=5, rep_iter=5),
    "lods_b": T(reg=5, rep_base=5, rep_iter=6), "lods_w": T(reg=5, rep_base=5, rep_iter=6),
    "scas_b": T(reg=7, rep_base=5, rep_iter=8), "scas_w": T(reg=7, rep_base=5, rep_iter=8),
    "test_acc_imm_b": T(reg=2), "test_acc_imm_w": T(reg=2),
    "mov_r_imm_b": T(reg=2), "mov_r_imm_w": T(reg=2),
    # RET near 10+m (imm the same); far 18+m real mode (pm=32+m).
    "ret_near_imm": T(reg=10, plus_m=M), "ret_near": T(reg=10, plus_m=M),
    "ret_far_imm": T(reg=18, plus_m=M), "ret_far": T(reg=18, plus_m=M),
    # LDS/LES/LFS/LGS/LSS 7 real mode (pm=22/25).
    "les": T(mem=7), "lds": T(mem=7), "lss_lfs_lgs": T(mem=7),
    "mov_rm_imm_b": T(reg=2, mem=2), "mov_rm_imm_w": T(reg=2, mem=2),
    # ENTER 10 (L=0), 12 (L=1), 15+4(L-1); LEAVE 4.
    "enter": T(reg=10, mem=12, count_base=15, per_count=4),
    "leave": T(reg=4),
    # INT 3: 33, INT n: 37, INTO 35 taken / 3, IRET 22 (real mode; no +m is printed).
    "int3": T(reg=33), "int": T(reg=37), "into": T(reg=3, taken=35), "iret": T(reg=22),
    # ICEBP (F1, undocumented) delivers INT 1; charged as INT n.
    "icebp": T(reg=37),
    # ROL/ROR/SHL/SHR/SAR: 3/7 for every count form; RCL/RCR: 9/10.
    "shift1_b": T(reg=3, mem=7), "shift1_w": T(reg=3, mem=7),
    "rcx1_b": T(reg=9, mem=10), "rcx1_w": T(reg=9, mem=10),
    "shiftcl_b": T(reg=3, mem=7), "shiftcl_w": T(reg=3, mem=7),
    "rcxcl_b": T(reg=9, mem=10), "rcxcl_w": T(reg=9, mem=10),
    "shiftimm_b": T(reg=3, mem=7), "shiftimm_w": T(reg=3, mem=7),
    "rcximm_b": T(reg=9, mem=10), "rcximm_w": T(reg=9, mem=10),
    "shld_shrd": T(reg=3, mem=7),
    "aam": T(reg=17), "aad": T(reg=19),
    "salc": T(reg=2),                                      # as SBB AL,AL (undocumented)
    "xlat": T(reg=5),
    "esc": _range(9, 20, 9, 20),                           # as the 80286 (approximated)
    # LOOP/LOOPE/LOOPNE 11+m taken; JCXZ 9+m taken, 5 not taken. The PRM prints no
    # not-taken time for LOOPcc; 11 without m is charged (docs/timing.md).
    "loopne": T(reg=11, taken=11, plus_m=M), "loope": T(reg=11, taken=11, plus_m=M),
    "loop": T(reg=11, taken=11, plus_m=M), "jcxz": T(reg=5, taken=9, plus_m=M),
    # IN imm 12, DX 13; OUT imm 10, DX 11 (real mode).
    "in_imm_b": T(reg=12), "in_imm_w": T(reg=12), "in_dx_b": T(reg=13), "in_dx_w": T(reg=13),
    "out_imm_b": T(reg=10), "out_imm_w": T(reg=10), "out_dx_b": T(reg=11), "out_dx_w": T(reg=11),
    # CALL rel 7+m; JMP rel 7+m; JMP ptr16:16 12+m real mode (pm=27+m).
    "call_near": T(reg=7, plus_m=M),
    "jmp_near": T(reg=7, plus_m=M), "jmp_far": T(reg=12, plus_m=M),
    "jmp_short": T(reg=7, plus_m=M),
    "lock": T(reg=0), "rep": T(reg=0),
    "hlt": T(reg=5), "cmc": T(reg=2),
    "test_rm_imm_b": T(reg=2, mem=5), "test_rm_imm_w": T(reg=2, mem=5),
    "negnot_b": T(reg=2, mem=6), "negnot_w": T(reg=2, mem=6),
    # MUL/IMUL r/m8 9-14/12-17, r/m16 9-22/12-25; DIV r/m8 14/17, r/m16 22/25;
    # IDIV r/m8 19/22, r/m16 27/30.
    "mul_b": _range(9, 14, 12, 17), "mul_w": _range(9, 22, 12, 25),
    "imul_b": _range(9, 14, 12, 17), "imul_w": _range(9, 22, 12, 25),
    "imul_r_rm": _range(9, 22, 12, 25),
    "div_b": T(reg=14, mem=17), "div_w": T(reg=22, mem=25),
    "idiv_b": T(reg=19, mem=22), "idiv_w": T(reg=27, mem=30),
    "flag_op": T(reg=2), "cli": T(reg=3), "sti": T(reg=3),
    "incdec_rm_b": T(reg=2, mem=6), "incdec_rm_w": T(reg=2, mem=6),
    # CALL r/m16 7+m/10+m; CALL m16:16 22+m real mode (pm=38+m);
    # JMP r/m16 7+m/10+m; JMP m16:16 43+m real mode, as printed (pm=31+m). PUSH m 5.
    "call_near_rm": T(reg=7, mem=10, plus_m=M), "call_far_rm": T(mem=22, plus_m=M),
    "jmp_near_rm": T(reg=7, mem=10, plus_m=M), "jmp_far_rm": T(mem=43, plus_m=M),
    "push_rm": T(reg=2, mem=5),
    # 0F opcodes valid in real mode.
    "movzx_movsx": T(reg=3, mem=6),
    "setcc": T(reg=4, mem=5),
    # BT r/m,r 3/12; BT r/m,imm8 3/6; BTS/BTR/BTC r/m,r 6/13; r/m,imm8 6/8.
    "bt_rm_r": T(reg=3, mem=12), "bt_rm_imm": T(reg=3, mem=6),
    "bts_rm_r": T(reg=6, mem=13), "bts_rm_imm": T(reg=6, mem=8),
    # BSF/BSR 10+3n, n = bits scanned (the same figure for the memory form).
    "bsf_bsr": T(reg=10, mem=10, per_count=3),
    # MOV r32,CRn 6; CRn,r32 10 (CR0) / 4 (CR2) / 5 (CR3); r32,DRn 22 (DR0-3) / 14 (DR6-7);
    # DRn,r32 22 / 16; TR6-7 12 either way. reg = the first register's figure; the others
    # are in SPECIAL_MOV_386.
    "mov_r_cr": T(reg=6), "mov_cr_r": T(reg=10),
    "mov_r_dr": T(reg=22), "mov_dr_r": T(reg=22),
    "mov_r_tr": T(reg=12), "mov_tr_r": T(reg=12),
    # SGDT/SIDT 9; LGDT/LIDT 11; SMSW 2/3; LMSW 10/13; CLTS 5.
    # Protected mode only (REAL_MODE_UD): SLDT 2/2, STR 2/2, LLDT 20, LTR 23, VERR 10/11,
    # VERW 15/16, LAR 15/16, LSL 20/21, ARPL 20/21.
    "sgdt": T(mem=9), "sidt": T(mem=9), "lgdt": T(mem=11), "lidt": T(mem=11),
    "smsw": T(reg=2, mem=3), "lmsw": T(reg=10, mem=13), "clts": T(reg=5),
    "sldt": T(reg=2, mem=2), "str": T(reg=2, mem=2),
    "lldt": T(reg=20, mem=20), "ltr": T(reg=23, mem=23),
    "verr": T(reg=10, mem=11), "verw": T(reg=15, mem=16),
    "lar": T(reg=15, mem=16), "lsl": T(reg=20, mem=21),
    "arpl": T(reg=20, mem=21),
}

# 80386 figures that change with a 32-bit operand size (66 prefix in real mode) [386PRM].
_OPSIZE32_386: dict[str, Timing] = {
    "mul_w": _range(9, 38, 12, 41),
    "imul_w": _range(9, 38, 12, 41),
    "imul_r_rm": _range(9, 38, 12, 41),
    "imul_imm16": _range(9, 38, 12, 41),
    "div_w": T(reg=38, mem=41),
    "idiv_w": T(reg=43, mem=46),
}

# MOV to/from special registers on the 80386, by (key, register number) [386PRM].
SPECIAL_MOV_386: dict[tuple[str, int], int] = {
    ("0F20", 0): 6, ("0F20", 2): 6, ("0F20", 3): 6,
    ("0F22", 0): 10, ("0F22", 2): 4, ("0F22", 3): 5,
    ("0F21", 0): 22, ("0F21", 1): 22, ("0F21", 2): 22, ("0F21", 3): 22,
    ("0F21", 6): 14, ("0F21", 7): 14,
    ("0F23", 0): 22, ("0F23", 1): 22, ("0F23", 2): 22, ("0F23", 3): 22,
    ("0F23", 6): 16, ("0F23", 7): 16,
    ("0F24", 6): 12, ("0F24", 7): 12,
    ("0F26", 6): 12, ("0F26", 7): 12,
}


# ---------------------------------------------------------------------------------------------
# 80486, Pentium (P5) and Pentium II (P6) [486PRM, P5DM, P6]. Clocks include the EA, assume a
# cache hit and no +m (these CPUs decode ahead, so a control transfer has no "next instruction"
# term). x87 opcodes (D8-DF) are out of scope: the 80486 and later integrate the FPU, and its
# timing is not modelled here, so those keys are not in these tables.
# ---------------------------------------------------------------------------------------------

def _derive(base: dict[str, list[str]], drop=(), split=None, add=None) -> dict[str, list[str]]:
    """A class map made from `base`: classes in `drop` removed, `split` replacing a class by
    several ({old: {new: keys}}), then the classes of `add` merged in."""
    out = {cls: list(keys) for cls, keys in base.items() if cls not in drop}
    for old, parts in (split or {}).items():
        keys = out.pop(old)
        if sorted(k for ks in parts.values() for k in ks) != sorted(keys):
            raise AssertionError(f"split of {old} does not cover its keys")
        out.update({cls: list(ks) for cls, ks in parts.items()})
    return _merge(out, add or {})


_NEW_486: dict[str, list[str]] = {
    "bswap":     _x(*range(0xC8, 0xD0)),
    "xadd_b":    _x(0xC0),
    "xadd_w":    _x(0xC1),
    "cmpxchg_b": _x(0xB0),
    "cmpxchg_w": _x(0xB1),
    "invd":      _x(0x08),
    "wbinvd":    _x(0x09),
    "invlpg":    ["0F01.7"],
    # CPUID first appeared in later 80486 steppings (the Intel486 family manuals list it).
    "cpuid":     _x(0xA2),
}

# The 80486 has separate lines for the imm8 and CL forms of SHLD/SHRD and for BSF and BSR.
_SPLIT_486 = {
    "shld_shrd": {"shld_shrd_imm": _x(0xA4, 0xAC), "shld_shrd_cl": _x(0xA5, 0xAD)},
    "bsf_bsr":   {"bsf": _x(0xBC), "bsr": _x(0xBD)},
}

_CLASSES_486 = _derive(_CLASSES_386, drop=("esc",), split=_SPLIT_486, add=_NEW_486)

# The Pentium drops MOV to/from test registers (#UD; the test registers became MSRs) and adds
# the MSR, time-stamp and 8-byte compare-exchange instructions. UD2 (0F0B) was named only with
# the Pentium Pro, but 0F0B is already a reserved invalid opcode here and core/opcodes.py
# decodes it from the Pentium on, so it is covered (it raises #UD).
_CLASSES_P5 = _derive(_CLASSES_486, drop=("mov_r_tr", "mov_tr_r"), add={
    "wrmsr":     _x(0x30),
    "rdtsc":     _x(0x31),
    "rdmsr":     _x(0x32),
    "cmpxchg8b": ["0FC7.1"],
    "ud2":       _x(0x0B),
    # RDPMC came with the Pentium with MMX technology; core/opcodes.py decodes it from the 586.
    "rdpmc":     _x(0x33),
})

# The MMX instructions (Pentium II; core/opcodes.py gates them by the model's has_mmx):
# the multiplier's three, EMMS, and everything else, which runs in the MMX ALU or shifter.
_MMX_MUL = (0xD5, 0xE5, 0xF5)
_CLASSES_P6 = _derive(_CLASSES_P5, add={
    "cmovcc":   _x(*range(0x40, 0x50)),
    "sysenter": _x(0x34),
    "sysexit":  _x(0x35),
    "mmx_alu":  (_x(*[op for op in (*range(0x60, 0x6C), 0x6E, 0x6F, 0x74, 0x75, 0x76, 0x7E,
                                    0x7F, 0xD1, 0xD2, 0xD3, 0xD8, 0xD9, 0xDB, 0xDC, 0xDD,
                                    0xDF, 0xE1, 0xE2, 0xE8, 0xE9, 0xEB, 0xEC, 0xED, 0xEF,
                                    0xF1, 0xF2, 0xF3, 0xF8, 0xF9, 0xFA, 0xFC, 0xFD, 0xFE)])
                 + ["0F71.2", "0F71.4", "0F71.6", "0F72.2", "0F72.4", "0F72.6",
                    "0F73.2", "0F73.6"]),
    "mmx_mul":  _x(*_MMX_MUL),
    "emms":     _x(0x77),
})


# 80486 [486PRM], real-address mode, 16-bit operand size (_OPSIZE32_486 for 32-bit).
_CLOCKS_486: dict[str, Timing] = {
    # ADD etc. r,r 1; r,m 2; m,r 3; r/m,imm 1/3; acc,imm 1. CMP r/m,r and r,r/m 1/2; imm 1/2.
    "alu_rm_r_b": T(reg=1, mem=3), "alu_rm_r_w": T(reg=1, mem=3),
    "alu_r_rm_b": T(reg=1, mem=2), "alu_r_rm_w": T(reg=1, mem=2),
    "alu_acc_imm_b": T(reg=1), "alu_acc_imm_w": T(reg=1),
    "alu_rm_imm_b": T(reg=1, mem=3), "alu_rm_imm_w": T(reg=1, mem=3),
    "cmp_rm_r_b": T(reg=1, mem=2), "cmp_rm_r_w": T(reg=1, mem=2),
    "cmp_r_rm_b": T(reg=1, mem=2), "cmp_r_rm_w": T(reg=1, mem=2),
    "cmp_acc_imm_b": T(reg=1), "cmp_acc_imm_w": T(reg=1),
    "cmp_rm_imm_b": T(reg=1, mem=2), "cmp_rm_imm_w": T(reg=1, mem=2),
    # PUSH Sreg 3; POP Sreg 3 real mode (pm: pm_costs "pop_sreg").
    "push_seg": T(reg=3), "pop_seg": T(reg=3),
    "push_fsgs": T(reg=3), "pop_fsgs": T(reg=3),
    # LOCK is printed as 1 clock; the other prefixes are charged alike (docs/timing.md).
    "seg_prefix": T(reg=1), "opsize": T(reg=1), "addrsize": T(reg=1),
    "lock": T(reg=1), "rep": T(reg=1),
    "daa": T(reg=2), "das": T(reg=2), "aaa": T(reg=3), "aas": T(reg=3),
    "aam": T(reg=15), "aad": T(reg=14),
    "inc_dec_r16": T(reg=1),
    "push_r16": T(reg=1), "pop_r16": T(reg=4),
    # Jcc 3 taken, 1 not taken (rel8 and rel16/32).
    "jcc": T(reg=1, taken=3), "jcc_near": T(reg=1, taken=3),
    "pusha": T(reg=11), "popa": T(reg=9),
    "bound": T(mem=7),
    "push_imm": T(reg=1),
    "imul_imm16": _range(13, 26, 13, 26), "imul_imm8": _range(13, 26, 13, 26),
    # INS 17, REP INS 16+8n; OUTS 17, REP OUTS 17+5n (real mode; pm in pm_costs).
    "ins_b": T(reg=17, rep_base=16, rep_iter=8), "ins_w": T(reg=17, rep_base=16, rep_iter=8),
    "outs_b": T(reg=17, rep_base=17, rep_iter=5), "outs_w": T(reg=17, rep_base=17, rep_iter=5),
    "test_rm_r_b": T(reg=1, mem=2), "test_rm_r_w": T(reg=1, mem=2),
    "xchg_rm_r_b": T(reg=3, mem=5), "xchg_rm_r_w": T(reg=3, mem=5),
    # MOV r,r / r,m / m,r 1; Sreg,r/m 3/3 real mode (pm 9); r/m,Sreg 3/3.
    "mov_rm_r_b": T(reg=1, mem=1), "mov_rm_r_w": T(reg=1, mem=1),
    "mov_r_rm_b": T(reg=1, mem=1), "mov_r_rm_w": T(reg=1, mem=1),
    "mov_rm_sreg": T(reg=3, mem=3), "mov_sreg_rm": T(reg=3, mem=3),
    "lea": T(mem=1),
    "pop_rm": T(reg=4, mem=6),
    "nop": T(reg=1), "xchg_ax_r": T(reg=3),
    "cbw": T(reg=3), "cwd": T(reg=3),
    "call_far": T(reg=18),
    "wait": _range(1, 3),
    # PUSHF 4, POPF 9 real mode (pm 3 and 6: pm_costs).
    "pushf": T(reg=4), "popf": T(reg=9), "sahf": T(reg=2), "lahf": T(reg=3),
    "mov_acc_moffs_b": T(reg=1), "mov_acc_moffs_w": T(reg=1),
    "mov_moffs_acc_b": T(reg=1), "mov_moffs_acc_w": T(reg=1),
    # MOVS 7; REP MOVS 5 (n=0), 13 (n=1), 12+3n. CMPS 8; REP 5 (n=0), 7+7n. STOS 5; REP 5
    # (n=0), 7+4n. LODS 5; REP 5 (n=0), 7+4n. SCAS 6; REP 5 (n=0), 7+5n.
    "movs_b": T(reg=7, rep_base=12, rep_iter=3, rep_zero=5, rep_one=13),
    "movs_w": T(reg=7, rep_base=12, rep_iter=3, rep_zero=5, rep_one=13),
    "cmps_b": T(reg=8, rep_base=7, rep_iter=7, rep_zero=5),
    "cmps_w": T(reg=8, rep_base=7, rep_iter=7, rep_zero=5),
    "stos_b": T(reg=5, rep_base=7, rep_iter=4, rep_zero=5),
    "stos_w": T(reg=5, rep_base=7, rep_iter=4, rep_zero=5),
    "lods_b": T(reg=5, rep_base=7, rep_iter=4, rep_zero=5),
    "lods_w": T(reg=5, rep_base=7, rep_iter=4, rep_zero=5),
    "scas_b": T(reg=6, rep_base=7, rep_iter=5, rep_zero=5),
    "scas_w": T(reg=6, rep_base=7, rep_iter=5, rep_zero=5),
    "test_acc_imm_b": T(reg=1), "test_acc_imm_w": T(reg=1),
    "mov_r_imm_b": T(reg=1), "mov_r_imm_w": T(reg=1),
    # RET near 5 (imm 5); far 13, far imm 14 real mode (pm: pm_costs).
    "ret_near_imm": T(reg=5), "ret_near": T(reg=5),
    "ret_far_imm": T(reg=14), "ret_far": T(reg=13),
    # LDS/LES/LFS/LGS/LSS 6 real mode (pm 12).
    "les": T(mem=6), "lds": T(mem=6), "lss_lfs_lgs": T(mem=6),
    "mov_rm_imm_b": T(reg=1, mem=1), "mov_rm_imm_w": T(reg=1, mem=1),
    # ENTER 14 (L=0), 17 (L=1), 17+3L = 20+3(L-1); LEAVE 5.
    "enter": T(reg=14, mem=17, count_base=20, per_count=3),
    "leave": T(reg=5),
    # INT 3 26, INT n 30, INTO 28 taken / 3, IRET 15 (real mode).
    "int3": T(reg=26), "int": T(reg=30), "into": T(reg=3, taken=28), "iret": T(reg=15),
    "icebp": T(reg=30),                                    # as INT n (undocumented)
    # ROL/ROR/SHL/SHR/SAR: r,1 3; m,1 4; r,CL 3; m,CL 4; r,imm 2; m,imm 4.
    # RCL/RCR: r,1 3; m,1 4; by CL or imm 8-30 / 9-31.
    "shift1_b": T(reg=3, mem=4), "shift1_w": T(reg=3, mem=4),
    "rcx1_b": T(reg=3, mem=4), "rcx1_w": T(reg=3, mem=4),
    "shiftcl_b": T(reg=3, mem=4), "shiftcl_w": T(reg=3, mem=4),
    "rcxcl_b": _range(8, 30, 9, 31), "rcxcl_w": _range(8, 30, 9, 31),
    "shiftimm_b": T(reg=2, mem=4), "shiftimm_w": T(reg=2, mem=4),
    "rcximm_b": _range(8, 30, 9, 31), "rcximm_w": _range(8, 30, 9, 31),
    # SHLD/SHRD r,imm 2; m,imm 3; r,CL 3; m,CL 4.
    "shld_shrd_imm": T(reg=2, mem=3), "shld_shrd_cl": T(reg=3, mem=4),
    "salc": T(reg=1),                                      # as SBB AL,AL (undocumented)
    "xlat": T(reg=4),
    # LOOP 7 taken / 6; LOOPE/LOOPNE 9 / 6; JCXZ 8 / 5.
    "loopne": T(reg=6, taken=9), "loope": T(reg=6, taken=9),
    "loop": T(reg=6, taken=7), "jcxz": T(reg=5, taken=8),
    # IN 14, OUT 16, both port forms (real mode; pm: pm_costs).
    "in_imm_b": T(reg=14), "in_imm_w": T(reg=14), "in_dx_b": T(reg=14), "in_dx_w": T(reg=14),
    "out_imm_b": T(reg=16), "out_imm_w": T(reg=16), "out_dx_b": T(reg=16), "out_dx_w": T(reg=16),
    # CALL rel 3; JMP rel 3; JMP ptr16:16 17 real mode (pm 19).
    "call_near": T(reg=3),
    "jmp_near": T(reg=3), "jmp_far": T(reg=17), "jmp_short": T(reg=3),
    "hlt": T(reg=4), "cmc": T(reg=2),
    "test_rm_imm_b": T(reg=1, mem=2), "test_rm_imm_w": T(reg=1, mem=2),
    "negnot_b": T(reg=1, mem=3), "negnot_w": T(reg=1, mem=3),
    # MUL/IMUL r/m8 13-18, r/m16 13-26 (early-out, see mul_cycles); DIV 16/16, 24/24;
    # IDIV 19/20, 27/28.
    "mul_b": _range(13, 18, 13, 18), "mul_w": _range(13, 26, 13, 26),
    "imul_b": _range(13, 18, 13, 18), "imul_w": _range(13, 26, 13, 26),
    "imul_r_rm": _range(13, 26, 13, 26),
    "div_b": T(reg=16, mem=16), "div_w": T(reg=24, mem=24),
    "idiv_b": T(reg=19, mem=20), "idiv_w": T(reg=27, mem=28),
    "flag_op": T(reg=2), "cli": T(reg=5), "sti": T(reg=5),
    "incdec_rm_b": T(reg=1, mem=3), "incdec_rm_w": T(reg=1, mem=3),
    # CALL r/m 5/5; CALL m16:16 17 real mode (pm 20); JMP r/m 5/5; JMP m16:16 13 (pm 18);
    # PUSH r/m 1/4.
    "call_near_rm": T(reg=5, mem=5), "call_far_rm": T(mem=17),
    "jmp_near_rm": T(reg=5, mem=5), "jmp_far_rm": T(mem=13),
    "push_rm": T(reg=1, mem=4),
    "movzx_movsx": T(reg=3, mem=3),
    "setcc": T(reg=3, mem=4),
    "bt_rm_r": T(reg=3, mem=8), "bt_rm_imm": T(reg=3, mem=3),
    "bts_rm_r": T(reg=6, mem=13), "bts_rm_imm": T(reg=6, mem=8),
    # BSF 6-42 / 7-43, BSR 6-103 / 7-104 (the manual prints ranges, not a per-bit rate).
    "bsf": _range(6, 42, 7, 43), "bsr": _range(6, 103, 7, 104),
    # MOV r32,CRn 4; CR0,r32 17, CR2/CR3,r32 4; DRn either way 9/10; TRn 4 (SPECIAL_MOV).
    "mov_r_cr": T(reg=4), "mov_cr_r": T(reg=17),
    "mov_r_dr": T(reg=9), "mov_dr_r": T(reg=10),
    "mov_r_tr": T(reg=4), "mov_tr_r": T(reg=4),
    # SGDT/SIDT 10; LGDT/LIDT 11; SMSW 2/3; LMSW 13/13; CLTS 7. Protected mode only:
    # SLDT 2/3, STR 2/3, LLDT 11/11, LTR 20/20, VERR 11/11, VERW 11/11, LAR 11/11,
    # LSL 10/10, ARPL 9/9.
    "sgdt": T(mem=10), "sidt": T(mem=10), "lgdt": T(mem=11), "lidt": T(mem=11),
    "smsw": T(reg=2, mem=3), "lmsw": T(reg=13, mem=13), "clts": T(reg=7),
    "sldt": T(reg=2, mem=3), "str": T(reg=2, mem=3),
    "lldt": T(reg=11, mem=11), "ltr": T(reg=20, mem=20),
    "verr": T(reg=11, mem=11), "verw": T(reg=11, mem=11),
    "lar": T(reg=11, mem=11), "lsl": T(reg=10, mem=10),
    "arpl": T(reg=9, mem=9),
    # New on the 80486: BSWAP 1; XADD r,r 3 / m,r 4; CMPXCHG r,r 6, m,r 7 (10 when the
    # comparison fails: mem_max); INVD 4; WBINVD 5; INVLPG 12; CPUID 14.
    "bswap": T(reg=1),
    "xadd_b": T(reg=3, mem=4), "xadd_w": T(reg=3, mem=4),
    "cmpxchg_b": T(reg=6, mem=7, mem_max=10), "cmpxchg_w": T(reg=6, mem=7, mem_max=10),
    "invd": T(reg=4), "wbinvd": T(reg=5), "invlpg": T(mem=12), "cpuid": T(reg=14),
}

_OPSIZE32_486: dict[str, Timing] = {
    "mul_w": _range(13, 42, 13, 42),
    "imul_w": _range(13, 42, 13, 42),
    "imul_r_rm": _range(13, 42, 13, 42),
    "imul_imm16": _range(13, 42, 13, 42),
    "imul_imm8": _range(13, 42, 13, 42),
    "div_w": T(reg=40, mem=40),
    "idiv_w": T(reg=43, mem=44),
}


# Pentium [P5DM] vol. 3 chapter 25 "Clocks" column, real-address mode, 16-bit operand size.
# The figure is the one for the instruction issued alone (not paired), with a correctly
# predicted branch; pairing and misprediction are not modelled (docs/timing.md).
_CLOCKS_P5: dict[str, Timing] = {
    "alu_rm_r_b": T(reg=1, mem=3), "alu_rm_r_w": T(reg=1, mem=3),
    "alu_r_rm_b": T(reg=1, mem=2), "alu_r_rm_w": T(reg=1, mem=2),
    "alu_acc_imm_b": T(reg=1), "alu_acc_imm_w": T(reg=1),
    "alu_rm_imm_b": T(reg=1, mem=3), "alu_rm_imm_w": T(reg=1, mem=3),
    "cmp_rm_r_b": T(reg=1, mem=2), "cmp_rm_r_w": T(reg=1, mem=2),
    "cmp_r_rm_b": T(reg=1, mem=2), "cmp_r_rm_w": T(reg=1, mem=2),
    "cmp_acc_imm_b": T(reg=1), "cmp_acc_imm_w": T(reg=1),
    "cmp_rm_imm_b": T(reg=1, mem=2), "cmp_rm_imm_w": T(reg=1, mem=2),
    "push_seg": T(reg=1), "pop_seg": T(reg=3),
    "push_fsgs": T(reg=1), "pop_fsgs": T(reg=3),
    # Every prefix except 0F takes one clock to decode (and makes the instruction unpairable).
    "seg_prefix": T(reg=1), "opsize": T(reg=1), "addrsize": T(reg=1),
    "lock": T(reg=1), "rep": T(reg=1),
    "daa": T(reg=3), "das": T(reg=3), "aaa": T(reg=3), "aas": T(reg=3),
    "aam": T(reg=18), "aad": T(reg=10),
    "inc_dec_r16": T(reg=1),
    "push_r16": T(reg=1), "pop_r16": T(reg=1),
    # Jcc 1 when predicted correctly, taken or not.
    "jcc": T(reg=1, taken=1), "jcc_near": T(reg=1, taken=1),
    "pusha": T(reg=5), "popa": T(reg=5),
    "bound": T(mem=8),
    "push_imm": T(reg=1),
    "imul_imm16": T(reg=10, mem=10), "imul_imm8": T(reg=10, mem=10),
    # INS 9, REP INS 11+3n; OUTS 13, REP OUTS 13+4n (real mode).
    "ins_b": T(reg=9, rep_base=11, rep_iter=3), "ins_w": T(reg=9, rep_base=11, rep_iter=3),
    "outs_b": T(reg=13, rep_base=13, rep_iter=4), "outs_w": T(reg=13, rep_base=13, rep_iter=4),
    "test_rm_r_b": T(reg=1, mem=2), "test_rm_r_w": T(reg=1, mem=2),
    "xchg_rm_r_b": T(reg=3, mem=3), "xchg_rm_r_w": T(reg=3, mem=3),
    "mov_rm_r_b": T(reg=1, mem=1), "mov_rm_r_w": T(reg=1, mem=1),
    "mov_r_rm_b": T(reg=1, mem=1), "mov_r_rm_w": T(reg=1, mem=1),
    # MOV r/m,Sreg 1/1; Sreg,r/m 2/3 real mode (pm: pm_costs).
    "mov_rm_sreg": T(reg=1, mem=1), "mov_sreg_rm": T(reg=2, mem=3),
    "lea": T(mem=1),
    "pop_rm": T(reg=1, mem=3),
    "nop": T(reg=1), "xchg_ax_r": T(reg=2),
    "cbw": T(reg=3), "cwd": T(reg=2),
    "call_far": T(reg=4),
    "wait": T(reg=1),
    "pushf": T(reg=4), "popf": T(reg=6), "sahf": T(reg=2), "lahf": T(reg=2),
    "mov_acc_moffs_b": T(reg=1), "mov_acc_moffs_w": T(reg=1),
    "mov_moffs_acc_b": T(reg=1), "mov_moffs_acc_w": T(reg=1),
    # MOVS 4; REP MOVS 6 (n=0), 13 (n=1), 13+n. CMPS 5; REP 7 (n=0), 9+4n. STOS 3; REP 6
    # (n=0), 9+n. LODS 2; REP 7 (n=0), 7+3n. SCAS 4; REP 7 (n=0), 9+4n.
    "movs_b": T(reg=4, rep_base=13, rep_iter=1, rep_zero=6, rep_one=13),
    "movs_w": T(reg=4, rep_base=13, rep_iter=1, rep_zero=6, rep_one=13),
    "cmps_b": T(reg=5, rep_base=9, rep_iter=4, rep_zero=7),
    "cmps_w": T(reg=5, rep_base=9, rep_iter=4, rep_zero=7),
    "stos_b": T(reg=3, rep_base=9, rep_iter=1, rep_zero=6),
    "stos_w": T(reg=3, rep_base=9, rep_iter=1, rep_zero=6),
    "lods_b": T(reg=2, rep_base=7, rep_iter=3, rep_zero=7),
    "lods_w": T(reg=2, rep_base=7, rep_iter=3, rep_zero=7),
    "scas_b": T(reg=4, rep_base=9, rep_iter=4, rep_zero=7),
    "scas_w": T(reg=4, rep_base=9, rep_iter=4, rep_zero=7),
    "test_acc_imm_b": T(reg=1), "test_acc_imm_w": T(reg=1),
    "mov_r_imm_b": T(reg=1), "mov_r_imm_w": T(reg=1),
    "ret_near_imm": T(reg=3), "ret_near": T(reg=2),
    "ret_far_imm": T(reg=4), "ret_far": T(reg=4),
    "les": T(mem=4), "lds": T(mem=4), "lss_lfs_lgs": T(mem=4),
    "mov_rm_imm_b": T(reg=1, mem=1), "mov_rm_imm_w": T(reg=1, mem=1),
    # ENTER 11 (L=0), 15 (L=1), 15+2L = 17+2(L-1); LEAVE 3.
    "enter": T(reg=11, mem=15, count_base=17, per_count=2),
    "leave": T(reg=3),
    # INT 3 13, INT n 16, INTO 13 taken / 4, IRET 8 (real mode).
    "int3": T(reg=13), "int": T(reg=16), "into": T(reg=4, taken=13), "iret": T(reg=8),
    "icebp": T(reg=16),                                    # as INT n (undocumented)
    # Shifts: r,1 1; m,1 3; r/m,CL 4/4; r,imm 1; m,imm 3. RCL/RCR: r,1 1; m,1 3;
    # r,CL 7-24; m,CL 9-26; r,imm 8-25; m,imm 10-27.
    "shift1_b": T(reg=1, mem=3), "shift1_w": T(reg=1, mem=3),
    "rcx1_b": T(reg=1, mem=3), "rcx1_w": T(reg=1, mem=3),
    "shiftcl_b": T(reg=4, mem=4), "shiftcl_w": T(reg=4, mem=4),
    "rcxcl_b": _range(7, 24, 9, 26), "rcxcl_w": _range(7, 24, 9, 26),
    "shiftimm_b": T(reg=1, mem=3), "shiftimm_w": T(reg=1, mem=3),
    "rcximm_b": _range(8, 25, 10, 27), "rcximm_w": _range(8, 25, 10, 27),
    "shld_shrd_imm": T(reg=4, mem=4), "shld_shrd_cl": T(reg=4, mem=5),
    "salc": T(reg=1),                                      # as SBB AL,AL (undocumented)
    "xlat": T(reg=4),
    # LOOP 5 taken / 6; LOOPE/LOOPNE 7 / 8; JCXZ 6 / 5.
    "loopne": T(reg=8, taken=7), "loope": T(reg=8, taken=7),
    "loop": T(reg=6, taken=5), "jcxz": T(reg=5, taken=6),
    # IN 7, OUT 12 (real mode; pm: pm_costs).
    "in_imm_b": T(reg=7), "in_imm_w": T(reg=7), "in_dx_b": T(reg=7), "in_dx_w": T(reg=7),
    "out_imm_b": T(reg=12), "out_imm_w": T(reg=12), "out_dx_b": T(reg=12), "out_dx_w": T(reg=12),
    "call_near": T(reg=1),
    "jmp_near": T(reg=1), "jmp_far": T(reg=3), "jmp_short": T(reg=1),
    "hlt": T(reg=12), "cmc": T(reg=2),
    "test_rm_imm_b": T(reg=1, mem=2), "test_rm_imm_w": T(reg=1, mem=2),
    "negnot_b": T(reg=1, mem=3), "negnot_w": T(reg=1, mem=3),
    # MUL/IMUL r/m8 11, r/m16 11, r/m32 10; DIV 17, 25, 41; IDIV 22, 30, 46.
    "mul_b": T(reg=11, mem=11), "mul_w": T(reg=11, mem=11),
    "imul_b": T(reg=11, mem=11), "imul_w": T(reg=11, mem=11),
    "imul_r_rm": T(reg=10, mem=10),
    "div_b": T(reg=17, mem=17), "div_w": T(reg=25, mem=25),
    "idiv_b": T(reg=22, mem=22), "idiv_w": T(reg=30, mem=30),
    "flag_op": T(reg=2), "cli": T(reg=7), "sti": T(reg=7),
    "incdec_rm_b": T(reg=1, mem=3), "incdec_rm_w": T(reg=1, mem=3),
    "call_near_rm": T(reg=2, mem=2), "call_far_rm": T(mem=5),
    "jmp_near_rm": T(reg=2, mem=2), "jmp_far_rm": T(mem=4),
    "push_rm": T(reg=1, mem=2),
    "movzx_movsx": T(reg=3, mem=3),
    "setcc": T(reg=1, mem=2),
    "bt_rm_r": T(reg=4, mem=9), "bt_rm_imm": T(reg=4, mem=4),
    "bts_rm_r": T(reg=7, mem=13), "bts_rm_imm": T(reg=7, mem=8),
    # BSF 6-34 / 6-35, BSR 7-39 / 7-40 (16-bit operand; 32-bit in _OPSIZE32_P5).
    "bsf": _range(6, 34, 6, 35), "bsr": _range(7, 39, 7, 40),
    "mov_r_cr": T(reg=4), "mov_cr_r": T(reg=22),
    "mov_r_dr": T(reg=2), "mov_dr_r": T(reg=11),
    "sgdt": T(mem=4), "sidt": T(mem=4), "lgdt": T(mem=6), "lidt": T(mem=6),
    "smsw": T(reg=4, mem=4), "lmsw": T(reg=8, mem=8), "clts": T(reg=10),
    "sldt": T(reg=2, mem=2), "str": T(reg=2, mem=2),
    "lldt": T(reg=9, mem=9), "ltr": T(reg=10, mem=10),
    "verr": T(reg=7, mem=7), "verw": T(reg=7, mem=7),
    "lar": T(reg=8, mem=8), "lsl": T(reg=8, mem=8),
    "arpl": T(reg=7, mem=7),
    "bswap": T(reg=1),
    "xadd_b": T(reg=3, mem=4), "xadd_w": T(reg=3, mem=4),
    "cmpxchg_b": T(reg=5, mem=6), "cmpxchg_w": T(reg=5, mem=6),
    "invd": T(reg=15), "wbinvd": T(reg=2000), "invlpg": T(mem=25), "cpuid": T(reg=14),
    # RDMSR 20-24; WRMSR 30-45; CMPXCHG8B 10. RDTSC: no figure is printed (NOT_DOCUMENTED).
    "rdmsr": _range(20, 24), "wrmsr": _range(30, 45), "cmpxchg8b": T(mem=10),
    "rdtsc": T(reg=6),
    "rdpmc": T(reg=6),                  # no figure: as RDTSC (NOT_DOCUMENTED)
    # UD2 only raises #UD: 1 clock for the instruction, then interrupt_timing()["exception"].
    "ud2": T(reg=1),
}

_OPSIZE32_P5: dict[str, Timing] = {
    "mul_w": T(reg=10, mem=10), "imul_w": T(reg=10, mem=10),
    "div_w": T(reg=41, mem=41), "idiv_w": T(reg=46, mem=46),
    "bsf": _range(6, 42, 6, 43), "bsr": _range(7, 71, 7, 72),
}


# Pentium II (P6 family). Intel published no clock column for the P6 family: the Pentium Pro
# and Pentium II manuals dropped it, and the optimization manual gives micro-op counts and
# execution-unit latencies rather than instruction times. The Pentium figures are therefore
# charged (NOT_DOCUMENTED lists every class this affects), and the instructions the P6 added
# are charged as their nearest documented relative.
_CLOCKS_P6: dict[str, Timing] = {
    **_CLOCKS_P5,
    # Length-changing prefixes aside, the P6 decoders take prefixes without a fixed cost.
    "seg_prefix": T(reg=0), "opsize": T(reg=0), "addrsize": T(reg=0),
    "lock": T(reg=0), "rep": T(reg=0),
    "cmovcc": T(reg=1, mem=1),          # as MOV r,r/m
    "sysenter": T(reg=4),               # as a far CALL to a code segment in real mode
    "sysexit": T(reg=4),                # as a far RET
    # MMX [P6OPT]: the execution latency; a memory source is charged the same (cache hit).
    "mmx_alu": T(reg=1, mem=1), "mmx_mul": T(reg=3, mem=3),
    "emms": T(reg=1),
}
_OPSIZE32_P6 = _OPSIZE32_P5

# Classes whose figure for the model is NOT printed in its manual, with what is charged.
NOT_DOCUMENTED: dict[str, dict[str, str]] = {
    "80486": {"icebp": "undocumented opcode, charged as INT n",
              "salc": "undocumented opcode, charged as SBB AL,AL",
              "mov_r_tr": "TR3-TR7 figure approximated as 4", "mov_tr_r": "as mov_r_tr"},
    "pentium": {"icebp": "undocumented opcode, charged as INT n",
                "salc": "undocumented opcode, charged as SBB AL,AL",
                "rdtsc": "no clock figure found for RDTSC; 6 approximated",
                "ud2": "raises #UD: 1 clock, then the exception delivery",
                "rdpmc": "no figure (Pentium with MMX technology); charged as RDTSC"},
}
NOT_DOCUMENTED["pentium2"] = {
    **{cls: "no P6 figure is published; the Pentium figure is charged" for cls in _CLOCKS_P5},
    **NOT_DOCUMENTED["pentium"],
    "seg_prefix": "no P6 figure; prefixes charged 0", "opsize": "as seg_prefix",
    "addrsize": "as seg_prefix", "lock": "as seg_prefix", "rep": "as seg_prefix",
    "cmovcc": "no figure; charged as MOV r,r/m",
    "sysenter": "no figure; charged as the Pentium real-mode far CALL",
    "sysexit": "no figure; charged as the Pentium far RET",
    "mmx_alu": "[P6OPT] gives the execution latency (1); the memory form is charged the same",
    "mmx_mul": "[P6OPT] gives the execution latency (3); the memory form is charged the same",
    "emms": "no figure found; charged as an MMX ALU operation (1)",
}


# MOV to/from special registers by (key, register number), per model [386PRM, 486PRM, P5DM].
SPECIAL_MOV: dict[str, dict[tuple[str, int], int]] = {
    "80386": SPECIAL_MOV_386,
    "80486": {**{("0F20", r): 4 for r in (0, 2, 3)},
              ("0F22", 0): 17, ("0F22", 2): 4, ("0F22", 3): 4,
              **{("0F21", r): 9 for r in (0, 1, 2, 3, 6, 7)},
              **{("0F23", r): 10 for r in (0, 1, 2, 3, 6, 7)},
              **{("0F24", r): 4 for r in (3, 4, 5, 6, 7)},
              **{("0F26", r): 4 for r in (3, 4, 5, 6, 7)}},
    "pentium": {**{("0F20", r): 4 for r in (0, 2, 3, 4)},
                ("0F22", 0): 22, ("0F22", 2): 12, ("0F22", 3): 21, ("0F22", 4): 14,
                **{("0F21", r): 2 for r in (0, 1, 2, 3, 6, 7)},
                **{("0F23", r): 11 for r in (0, 1, 2, 3, 6, 7)}},
}
SPECIAL_MOV["pentium2"] = SPECIAL_MOV["pentium"]

# Keys in the table whose instruction raises #UD in real mode (protected-mode figure given).
REAL_MODE_UD: dict[str, frozenset[str]] = {
    "8086": frozenset(),
    "8088": frozenset(),
    "80186": frozenset(),
    "80286": frozenset({"63", "0F00.0", "0F00.1", "0F00.2", "0F00.3", "0F00.4", "0F00.5",
                        "0F02", "0F03"}),
    "80386": frozenset({"63", "0F00.0", "0F00.1", "0F00.2", "0F00.3", "0F00.4", "0F00.5",
                        "0F02", "0F03"}),
}
for _m in ("80486", "pentium", "pentium2"):
    REAL_MODE_UD[_m] = REAL_MODE_UD["80386"]


# ---------------------------------------------------------------------------------------------
# Interrupt and exception delivery, per model.
# ---------------------------------------------------------------------------------------------

# Keys:
#   intr        maskable hardware interrupt: INTA cycles, vector fetch, pushes, to the first
#               instruction of the handler.
#   nmi         non-maskable interrupt (and, on the 8086/8088, the single-step trap).
#   exception   a CPU-detected interrupt (divide error, #UD, BOUND range, #GP...) delivered
#               after the faulting instruction: add to the clocks the instruction already used.
# The software interrupts INT n / INT 3 / INTO are table entries ("CD", "CC", "CE").
_INTERRUPTS: dict[str, dict[str, int]] = {
    # [86UM] interrupt response: INTR 61, NMI 50, single step 50; internal interrupts are
    # taken like INT n (51). 8088: +4 for each of the 5 word transfers.
    "8086": {"intr": 61, "nmi": 50, "exception": 51},
    "8088": {"intr": 81, "nmi": 70, "exception": 71},
    # 80186, 80286, 80386: no separate figure is documented; the INT n figure is used.
    "80186": {"intr": 47, "nmi": 47, "exception": 47},
    "80286": {"intr": 23, "nmi": 23, "exception": 23},
    "80386": {"intr": 37, "nmi": 37, "exception": 37},
    # 80486, Pentium: likewise the INT n figure (30 [486PRM], 16 [P5DM]); Pentium II: none
    # is published, the Pentium figure is used.
    "80486": {"intr": 30, "nmi": 30, "exception": 30},
    "pentium": {"intr": 16, "nmi": 16, "exception": 16},
    "pentium2": {"intr": 16, "nmi": 16, "exception": 16},
}
# 1 where the interrupt figures above are "+m" (80286: 23+m).
INTERRUPT_PLUS_M = {"8086": 0, "8088": 0, "80186": 0, "80286": 1, "80386": 0, "80486": 0,
                    "pentium": 0, "pentium2": 0}


# ---------------------------------------------------------------------------------------------
# Effective address.
# ---------------------------------------------------------------------------------------------

# [86UM] EA calculation time by ModR/M (index = mod * 8 + rm, mod 0..2):
#   disp only 6; base or index 5; disp + base or index 9;
#   BX+SI / BP+DI 7, BX+DI / BP+SI 8; with a displacement 11 and 12.
EA_8086: tuple[int, ...] = (
    # rm: BX+SI BX+DI BP+SI BP+DI  SI  DI  disp16/BP  BX
    7, 8, 8, 7, 5, 5, 6, 5,          # mod 0 (rm 6 = direct address)
    11, 12, 12, 11, 9, 9, 9, 9,      # mod 1 (disp8)
    11, 12, 12, 11, 9, 9, 9, 9,      # mod 2 (disp16)
)
EA_SEGMENT_OVERRIDE_8086 = 2


def ea_cycles_8086(mod: int, rm: int, has_segment_override: bool = False) -> int:
    """8086/8088 effective-address clocks for a ModR/M memory operand (0 for mod 3).

    The "+2 for a segment override" is the same 2 clocks the override prefix itself is listed
    at ("seg_prefix"). A CPU that charges every prefix byte must pass False here.
    """
    if mod == 3:
        return 0
    return EA_8086[mod * 8 + rm] + (EA_SEGMENT_OVERRIDE_8086 if has_segment_override else 0)


def ea_extra(model: str, mod: int, rm: int, addr32: bool = False,
             sib_base_and_index: bool = False) -> int:
    """Clocks the 80186/286/386 add to a documented memory-form figure for its address mode.

    80286 [286PRM]: +1 when the address has base + index + displacement (16-bit mod 1/2,
    rm 0-3). 80386 [386PRM], 80486 [486PRM]: +1 when it uses two general registers (16-bit
    rm 0-3 with mod 0-2; 32-bit: a SIB byte with both base and index). 80186, Pentium,
    Pentium II: none (the Pentium's address-generation interlock is a pipeline effect, not a
    per-instruction figure). 8086/8088: use ea_cycles_8086() instead.
    """
    model = _check_model(model)
    if mod == 3 or model in ("8086", "8088", "80186", "pentium", "pentium2"):
        return 0
    if model == "80286":
        return 1 if (mod in (1, 2) and rm < 4) else 0
    if addr32:
        return 1 if sib_base_and_index else 0
    return 1 if rm < 4 else 0


def mul_cycles_386(multiplier: int, memory: bool = False) -> int:
    """80386 early-out MUL/IMUL clocks [386PRM, MUL notes]: max(ceil(log2(|m|)), 3) + 6 for a
    multiplier m != 0, 9 for m = 0 (register form); the memory form adds 3. For IMUL pass the
    signed multiplier. Byte/word/dword maxima (14, 22, 38) follow from the operand width."""
    m = abs(multiplier)
    clocks = 9 if m == 0 else max((m - 1).bit_length(), 3) + 6   # (m-1).bit_length() = ceil(log2 m)
    return clocks + (3 if memory else 0)


def next_instruction_components_386(length: int, has_disp: bool, has_imm: bool,
                                    disp_len: int = 0, imm_len: int = 0) -> int:
    """m for the 80386 "+m": every opcode/prefix/ModR/M/SIB byte counts 1, the whole
    displacement counts 1 and the whole immediate counts 1 [386PRM 17.2.2.3]."""
    return length - disp_len - imm_len + (1 if has_disp else 0) + (1 if has_imm else 0)


# ---------------------------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------------------------

_CLASSES = {
    "8086": _CLASSES_8086, "8088": _CLASSES_8086,
    "80186": _CLASSES_186, "80286": _CLASSES_286, "80386": _CLASSES_386,
    "80486": _CLASSES_486, "pentium": _CLASSES_P5, "pentium2": _CLASSES_P6,
}
_CLOCKS = {
    "8086": _CLOCKS_8086, "8088": _CLOCKS_8086,
    "80186": _CLOCKS_186, "80286": _CLOCKS_286, "80386": _CLOCKS_386,
    "80486": _CLOCKS_486, "pentium": _CLOCKS_P5, "pentium2": _CLOCKS_P6,
}
_OPSIZE32 = {"80386": _OPSIZE32_386, "80486": _OPSIZE32_486, "pentium": _OPSIZE32_P5,
             "pentium2": _OPSIZE32_P6}
_cache: dict[tuple[str, int], dict[str, Timing]] = {}


def _check_model(model: str) -> str:
    """Validate `model`; return the model whose data it uses (SAME_TIMING)."""
    if model not in MODELS:
        raise ValueError(f"unknown CPU model {model!r}; expected one of {MODELS}")
    return SAME_TIMING.get(model, model)


def _to_8088(t: Timing) -> Timing:
    """Apply [86UM]'s rule: the 8088 takes 4 more clocks for every word transfer."""
    return replace(
        t,
        reg=t.reg + 4 * t.reg_word_transfers,
        reg_max=t.reg_max + 4 * t.reg_word_transfers if t.reg_max else 0,
        mem=t.mem + 4 * t.word_transfers,
        mem_max=t.mem_max + 4 * t.word_transfers if t.mem_max else 0,
        rep_iter=t.rep_iter + 4 * t.rep_word_transfers,
    )


def classes(model: str) -> dict[str, list[str]]:
    """Instruction class -> opcode keys, for the model (what shares one line of the manual)."""
    model = _check_model(model)
    return {cls: list(keys) for cls, keys in _CLASSES[model].items()}


def table(model: str, operand_size: int = 16) -> dict[str, Timing]:
    """The model's documented clocks: opcode key -> Timing, covering every key it decodes.

    operand_size=32 (80386 and later) gives the figures for a 32-bit operand size.
    The returned dict is a fresh copy; Timing records are immutable.
    """
    model = _check_model(model)
    if operand_size not in (16, 32) or (operand_size == 32 and model not in _OPSIZE32):
        raise ValueError(f"operand_size {operand_size} is not available on {model}")
    cached = _cache.get((model, operand_size))
    if cached is None:
        clocks = dict(_CLOCKS[model])
        if operand_size == 32:
            clocks.update(_OPSIZE32[model])
        if model == "8088":
            clocks = {cls: _to_8088(t) for cls, t in clocks.items()}
            for cls, fields_ in _OVERRIDES_8088.items():
                clocks[cls] = replace(clocks[cls], **fields_)
        cached = {}
        for cls, keys in _CLASSES[model].items():
            for key in keys:
                if key in cached:
                    raise AssertionError(f"{model}: key {key} is in two classes")
                cached[key] = clocks[cls]
        _cache[(model, operand_size)] = cached
    return dict(cached)


def interrupt_timing(model: str) -> dict[str, int]:
    """Hardware interrupt / exception delivery clocks: {"intr", "nmi", "exception"}."""
    model = _check_model(model)
    return dict(_INTERRUPTS[model])


def prefix_cycles(model: str) -> int:
    """Clocks for each prefix byte (segment override, LOCK, REP, and on the 80386 and later
    also FS:/GS:/66/67): 2 on the 8086/8088/80186 [86UM, 186DS], 0 on the 80286/80386 [286PRM,
    386PRM], 1 on the 80486 [486PRM, LOCK] and the Pentium [P5DM], 0 on the Pentium II (no
    figure published). Equal to table(model)[prefix key].reg; given as a function for the
    decoder loop.

    Charging this per prefix byte already covers the 8086 EA table's "+2 for a segment
    override" (call ea_cycles_8086 with has_segment_override=False) but not the REP prefix of
    a string instruction: rep_base includes it, so do not charge it twice.
    """
    model = _check_model(model)
    if model in ("8086", "8088", "80186"):
        return 2
    return 1 if model in ("80486", "pentium") else 0


def special_mov(model: str) -> dict[tuple[str, int], int]:
    """MOV to/from CRn/DRn/TRn clocks by (opcode key, register number), 80386 and later."""
    model = _check_model(model)
    return dict(SPECIAL_MOV.get(model, {}))


# ---------------------------------------------------------------------------------------------
# Protected mode: the clocks of the transfers and system instructions whose cost depends on the
# descriptor they reach, not only on the opcode. pm_costs(model) returns them; the real-mode
# table() is unchanged. Every figure is a total for the instruction in that form, in CPU clocks,
# with the same conventions as table(): EA included, and "+m" (80286, 80386) NOT included --
# PM_PLUS_M lists the keys printed as "n+m". docs/timing.md has the key list.
# ---------------------------------------------------------------------------------------------

def _io(prefix: str, iopl: int, bitmap: int, v86: int) -> dict[str, int]:
    """I/O keys: CPL <= IOPL / CPL > IOPL (I/O permission bitmap checked) / V86 mode."""
    return {f"{prefix}_iopl": iopl, f"{prefix}_bitmap": bitmap, f"{prefix}_v86": v86}


def _rep_io(prefix: str, iopl: int, bitmap: int, v86: int, per_iter: int) -> dict[str, int]:
    """REP INS/OUTS: total = <prefix>_<kind>_base + <prefix>_iter * count."""
    return {f"{prefix}_iopl_base": iopl, f"{prefix}_bitmap_base": bitmap,
            f"{prefix}_v86_base": v86, f"{prefix}_iter": per_iter}


def _ts(instr: str, rows: dict[str, tuple[int, int, int]]) -> dict[str, int]:
    """Task-switch keys "ts_<instr>_<old>_to_<new>" from {old: (to tss32, to v86, to tss16)}."""
    out = {}
    for old, (t32, tv86, t16) in rows.items():
        out[f"ts_{instr}_{old}_to_tss32"] = t32
        out[f"ts_{instr}_{old}_to_v86"] = tv86
        out[f"ts_{instr}_{old}_to_tss16"] = t16
    return out


_TASK_INSTRS = ("call_tss", "call_task_gate", "jmp_tss", "jmp_task_gate", "iret", "int")

# 80286 [286PRM]: every control-transfer figure is "+m" (the pages' footnote). The 286 has only
# 286 TSSs, so each task-switch figure is the whole cost and the ts_* term is 0.
_PM_286: dict[str, int] = {
    "call_far": 26, "call_far_m": 29,
    "call_gate_same": 41, "call_gate_same_m": 44,
    "call_gate_inner": 82, "call_gate_inner_m": 83,
    "call_gate_inner_x": 86, "call_gate_inner_x_m": 90, "call_gate_per_param": 4,
    "call_tss": 177, "call_tss_m": 180, "call_task_gate": 182, "call_task_gate_m": 185,
    "jmp_far": 23, "jmp_far_m": 26, "jmp_gate": 38, "jmp_gate_m": 41,
    "jmp_tss": 175, "jmp_tss_m": 178, "jmp_task_gate": 180, "jmp_task_gate_m": 183,
    "ret_far": 25, "ret_far_imm": 25, "ret_far_outer": 55, "ret_far_imm_outer": 55,
    "iret": 31, "iret_outer": 55, "iret_task": 169,
    # INT n / INT 3: same level 40, inner 78, via task gate 167; INTO: +1 for the flag test.
    "int_same": 40, "int_inner": 78, "int_task_gate": 167,
    "int3_same": 40, "int3_inner": 78, "int3_task_gate": 167,
    "into_same": 41, "into_inner": 79, "into_task_gate": 168,
    # MOV Sreg,r/m 17/19; POP Sreg 20; LDS/LES 21.
    "mov_sreg": 17, "mov_sreg_m": 19, "pop_sreg": 20, "lds": 21,
    "pushf": 3, "popf": 5,
    # The 80286 checks only CPL <= IOPL (no I/O bitmap, no V86 mode): IN 5, OUT 3, INS/OUTS 5,
    # REP INS/OUTS 5+4n.
    "in_imm_iopl": 5, "in_dx_iopl": 5, "out_imm_iopl": 3, "out_dx_iopl": 3,
    "ins_iopl": 5, "outs_iopl": 5,
    "rep_ins_iopl_base": 5, "rep_ins_iter": 4, "rep_outs_iopl_base": 5, "rep_outs_iter": 4,
    "lgdt": 11, "lidt": 12, "sgdt": 11, "sidt": 12,
    "lldt": 17, "lldt_m": 19, "ltr": 17, "ltr_m": 19,
    "sldt": 2, "sldt_m": 3, "str": 2, "str_m": 3,
    "lar": 14, "lar_m": 16, "lsl": 14, "lsl_m": 16,
    "verr": 14, "verr_m": 16, "verw": 14, "verw_m": 16, "arpl": 10, "arpl_m": 11,
    "clts": 2, "lmsw": 3, "lmsw_m": 6, "smsw": 2, "smsw_m": 3,
    "hlt": 2,
    **{f"ts_{i}_tss16_to_tss16": 0 for i in _TASK_INSTRS},
}

# 80386 [386PRM] chapter 17 (CALL, JMP, RET, IRET, INT, MOV, POP, LDS, IN, OUT, INS, OUTS,
# REP, MOV special, HLT, system instruction pages). A task switch costs the base figure plus
# the "ts" of the page's own table, by old and new TSS type and by whether a task gate is used.
_PM_386: dict[str, int] = {
    "call_far": 34, "call_far_m": 38,
    "call_gate_same": 52, "call_gate_same_m": 56,
    "call_gate_inner": 86, "call_gate_inner_m": 90,
    "call_gate_inner_x": 94, "call_gate_inner_x_m": 98, "call_gate_per_param": 4,
    "call_tss": 0, "call_tss_m": 5, "call_task_gate": 0, "call_task_gate_m": 5,
    "jmp_far": 27, "jmp_far_m": 31, "jmp_gate": 45, "jmp_gate_m": 49,
    "jmp_tss": 0, "jmp_tss_m": 5, "jmp_task_gate": 0, "jmp_task_gate_m": 5,
    "ret_far": 32, "ret_far_imm": 32, "ret_far_outer": 68, "ret_far_imm_outer": 68,
    "iret": 38, "iret_outer": 82, "iret_to_v86": 60, "iret_task": 0,
    # INT n, INT 3 and INTO (taken) share the protected-mode lines.
    "int_same": 59, "int_inner": 99, "int_from_v86": 119, "int_task_gate": 0,
    "int3_same": 59, "int3_inner": 99, "int3_from_v86": 119, "int3_task_gate": 0,
    "into_same": 59, "into_inner": 99, "into_from_v86": 119, "into_task_gate": 0,
    # MOV Sreg,r/m 18/19; POP Sreg 21; LDS/LES/LSS 22; LFS/LGS 25.
    "mov_sreg": 18, "mov_sreg_m": 19, "pop_sreg": 21, "lds": 22, "lfs": 25,
    "pushf": 4, "popf": 5,
    # I/O: CPL <= IOPL / CPL > IOPL (I/O bitmap checked) / V86 mode (bitmap checked).
    **_io("in_imm", 6, 26, 26), **_io("in_dx", 7, 27, 27),
    **_io("out_imm", 4, 24, 24), **_io("out_dx", 5, 25, 25),
    **_io("ins", 9, 29, 29), **_io("outs", 8, 28, 28),
    **_rep_io("rep_ins", 7, 27, 27, 6),
    **_rep_io("rep_outs", 6, 26, 26, 5),
    "lgdt": 11, "lidt": 11, "sgdt": 9, "sidt": 9,
    "lldt": 20, "lldt_m": 20, "ltr": 23, "ltr_m": 23,
    "sldt": 2, "sldt_m": 2, "str": 2, "str_m": 2,
    "lar": 15, "lar_m": 16, "lsl": 20, "lsl_m": 21,
    "verr": 10, "verr_m": 11, "verw": 15, "verw_m": 16, "arpl": 20, "arpl_m": 21,
    "clts": 5, "lmsw": 10, "lmsw_m": 13, "smsw": 2, "smsw_m": 3,
    "mov_cr0_r": 10, "mov_cr2_r": 4, "mov_cr3_r": 5, "mov_r_cr": 6,
    "mov_dr0_3_r": 22, "mov_dr6_7_r": 16, "mov_r_dr0_3": 22, "mov_r_dr6_7": 14,
    "hlt": 5,
    # ts tables (CALL, JMP and IRET pages; INT page "approximate values").
    **_ts("call_tss", {"tss32": (300, 217, 273), "tss16": (298, 217, 273)}),
    **_ts("call_task_gate", {"tss32": (309, 226, 282), "tss16": (307, 226, 282)}),
    **_ts("jmp_tss", {"tss32": (303, 220, 276), "tss16": (301, 218, 274)}),
    **_ts("jmp_task_gate", {"tss32": (312, 229, 285), "tss16": (310, 227, 283)}),
    **_ts("iret", {"tss32": (275, 224, 271), "tss16": (265, 214, 232)}),
    **_ts("int", {"tss32": (309, 226, 282), "v86": (314, 231, 287),
                  "tss16": (307, 224, 280)}),
}

# 80486 [486PRM]. Task switches: the instruction's base figure + TS, where TS depends only on
# the new TSS: 199 to a 32-bit TSS, 177 to a V86 TSS, 180 to a 16-bit TSS.
_TS_486 = {old: (199, 177, 180) for old in ("tss32", "v86", "tss16")}
_PM_486: dict[str, int] = {
    "call_far": 20, "call_far_m": 20,
    "call_gate_same": 35, "call_gate_same_m": 35,
    "call_gate_inner": 69, "call_gate_inner_m": 69,
    "call_gate_inner_x": 77, "call_gate_inner_x_m": 77, "call_gate_per_param": 4,
    "call_tss": 37, "call_tss_m": 37, "call_task_gate": 37, "call_task_gate_m": 37,
    "jmp_far": 19, "jmp_far_m": 18, "jmp_gate": 32, "jmp_gate_m": 31,
    "jmp_tss": 42, "jmp_tss_m": 41, "jmp_task_gate": 43, "jmp_task_gate_m": 42,
    "ret_far": 18, "ret_far_imm": 17, "ret_far_outer": 33, "ret_far_imm_outer": 33,
    "iret": 15, "iret_outer": 36, "iret_to_v86": 15, "iret_task": 32,
    "int_same": 44, "int_inner": 71, "int_from_v86": 86, "int_task_gate": 37,
    "int3_same": 44, "int3_inner": 71, "int3_from_v86": 82, "int3_task_gate": 37,
    "into_same": 46, "into_inner": 73, "into_from_v86": 84, "into_task_gate": 39,
    # MOV Sreg,r/m 9/9; POP Sreg 9; LDS/LES/LFS/LGS/LSS 12.
    "mov_sreg": 9, "mov_sreg_m": 9, "pop_sreg": 9, "lds": 12, "lfs": 12,
    "pushf": 3, "popf": 6,
    **_io("in_imm", 8, 28, 27), **_io("in_dx", 8, 28, 27),
    **_io("out_imm", 11, 31, 29), **_io("out_dx", 10, 30, 29),
    **_io("ins", 10, 32, 30), **_io("outs", 10, 32, 30),
    **_rep_io("rep_ins", 10, 30, 29, 8),
    **_rep_io("rep_outs", 11, 31, 30, 5),
    "lgdt": 11, "lidt": 11, "sgdt": 10, "sidt": 10,
    "lldt": 11, "lldt_m": 11, "ltr": 20, "ltr_m": 20,
    "sldt": 2, "sldt_m": 3, "str": 2, "str_m": 3,
    "lar": 11, "lar_m": 11, "lsl": 10, "lsl_m": 10,
    "verr": 11, "verr_m": 11, "verw": 11, "verw_m": 11, "arpl": 9, "arpl_m": 9,
    "clts": 7, "lmsw": 13, "lmsw_m": 13, "smsw": 2, "smsw_m": 3,
    "mov_cr0_r": 17, "mov_cr2_r": 4, "mov_cr3_r": 4, "mov_r_cr": 4,
    "mov_dr0_3_r": 10, "mov_dr6_7_r": 10, "mov_r_dr0_3": 9, "mov_r_dr6_7": 9,
    "invlpg": 12, "hlt": 4, "cpuid": 14, "invd": 4, "wbinvd": 5,
    **{k: v for i in _TASK_INSTRS for k, v in _ts(i, _TS_486).items()},
}

# Pentium [P5DM] vol. 3 chapter 25. Task switches: base + TS, TS from the table "Task Switch
# Times for Exceptions" (any old task): 85 to a 32-bit TSS, 71 to a V86 TSS, 87 to a 16-bit TSS.
_TS_P5 = {old: (85, 71, 87) for old in ("tss32", "v86", "tss16")}
_PM_P5: dict[str, int] = {
    "call_far": 13, "call_far_m": 14,
    "call_gate_same": 22, "call_gate_same_m": 22,
    "call_gate_inner": 44, "call_gate_inner_m": 44,
    "call_gate_inner_x": 45, "call_gate_inner_x_m": 45, "call_gate_per_param": 2,
    "call_tss": 21, "call_tss_m": 22, "call_task_gate": 22, "call_task_gate_m": 23,
    "jmp_far": 3, "jmp_far_m": 4, "jmp_gate": 18, "jmp_gate_m": 18,
    "jmp_tss": 19, "jmp_tss_m": 20, "jmp_task_gate": 20, "jmp_task_gate_m": 21,
    "ret_far": 4, "ret_far_imm": 4, "ret_far_outer": 23, "ret_far_imm_outer": 23,
    "iret": 10, "iret_outer": 27, "iret_to_v86": 10, "iret_task": 10,
    "int_same": 31, "int_inner": 48, "int_from_v86": 60, "int_task_gate": 23,
    "int3_same": 27, "int3_inner": 44, "int3_from_v86": 56, "int3_task_gate": 19,
    "into_same": 27, "into_inner": 44, "into_from_v86": 56, "into_task_gate": 19,
    # Segment loads print ranges (the descriptor checks): the minimum is charged.
    "mov_sreg": 2, "mov_sreg_m": 3, "pop_sreg": 3, "lds": 4, "lfs": 4,
    "pushf": 3, "popf": 4,
    **_io("in_imm", 4, 21, 19), **_io("in_dx", 4, 21, 19),
    **_io("out_imm", 9, 26, 24), **_io("out_dx", 9, 25, 24),
    **_io("ins", 6, 24, 22), **_io("outs", 10, 27, 24),
    **_rep_io("rep_ins", 8, 25, 23, 3),
    **_rep_io("rep_outs", 10, 27, 25, 4),
    "lgdt": 6, "lidt": 6, "sgdt": 4, "sidt": 4,
    "lldt": 9, "lldt_m": 9, "ltr": 10, "ltr_m": 10,
    "sldt": 2, "sldt_m": 2, "str": 2, "str_m": 2,
    "lar": 8, "lar_m": 8, "lsl": 8, "lsl_m": 8,
    "verr": 7, "verr_m": 7, "verw": 7, "verw_m": 7, "arpl": 7, "arpl_m": 7,
    "clts": 10, "lmsw": 8, "lmsw_m": 8, "smsw": 4, "smsw_m": 4,
    "mov_cr0_r": 22, "mov_cr2_r": 12, "mov_cr3_r": 21, "mov_cr4_r": 14, "mov_r_cr": 4,
    "mov_dr0_3_r": 11, "mov_dr6_7_r": 11, "mov_r_dr0_3": 2, "mov_r_dr6_7": 2,
    "invlpg": 25, "hlt": 12, "cpuid": 14, "invd": 15, "wbinvd": 2000,
    "rdmsr": 20, "rdmsr_max": 24, "wrmsr": 30, "wrmsr_max": 45,
    **{k: v for i in _TASK_INSTRS for k, v in _ts(i, _TS_P5).items()},
}

# Pentium II: no figure is published (see _CLOCKS_P6); the Pentium figures are charged, and
# SYSENTER, SYSEXIT, RDPMC and RDTSC have no documented count at all (PM_UNDOCUMENTED).
_PM_P6: dict[str, int] = dict(_PM_P5)

_PM = {"80286": _PM_286, "80386": _PM_386, "80486": _PM_486,
       "pentium": _PM_P5, "pentium2": _PM_P6}

# Keys printed as "n+m" (add m, next_instruction_components_386() on the 80386, the next
# instruction's byte count on the 80286).
_PLUS_M_286 = frozenset(k for k in _PM_286 if k.split("_")[0] in ("call", "jmp", "ret", "iret",
                                                                  "int", "int3", "into")
                        and not k.startswith("ts_") and k != "call_gate_per_param")
_PLUS_M_386 = frozenset(k for k in _PM_386 if k.startswith(("call_far", "call_gate_same",
                                                            "call_gate_inner", "jmp_far",
                                                            "jmp_gate"))
                        and k != "call_gate_per_param") | {"ret_far", "ret_far_imm"}
PM_PLUS_M: dict[str, frozenset[str]] = {
    "80286": _PLUS_M_286, "80386": _PLUS_M_386,
    "80486": frozenset(), "pentium": frozenset(), "pentium2": frozenset(),
}

# 80486 key prefixes whose figures were compared with a reproduction of the [486PRM] tables
# (docs/timing.md, "Sources"); the others were entered without such a check.
_CHECKED_486 = ("call_", "jmp_", "ret_far", "iret", "int_", "int3_", "in_", "out_", "outs_",
                "rep_outs", "ts_", "popf", "clts", "into_")

# Keys whose figure was NOT compared with any copy of its source when it was entered: a
# reviewer's list (the 80286 and 80386 figures were all read from the manuals' pages).
PM_UNCHECKED: dict[str, frozenset[str]] = {
    "80286": frozenset(), "80386": frozenset(),
    "80486": frozenset(k for k in _PM_486 if not k.startswith(_CHECKED_486)),
    "pentium": frozenset(_PM_P5) - {k for k in _PM_P5 if k.startswith("ts_")},
    "pentium2": frozenset(_PM_P6),
}

# Protected-mode operations the model has but no manual gives a clock count for.
PM_UNDOCUMENTED: dict[str, frozenset[str]] = {
    "80286": frozenset(), "80386": frozenset(), "80486": frozenset(),
    "pentium": frozenset({"rdtsc", "rdpmc"}),
    "pentium2": frozenset({"rdtsc", "rdpmc", "sysenter", "sysexit"}),
}


for _table in (REAL_MODE_UD, INTERRUPT_PLUS_M, NOT_DOCUMENTED, SPECIAL_MOV, PM_PLUS_M,
               PM_UNCHECKED, PM_UNDOCUMENTED):
    for _alias, _same in SAME_TIMING.items():
        _table[_alias] = _table[_same]


def pm_costs(model: str) -> dict[str, int]:
    """Protected-mode clocks of `model` (80286 and later): key -> clocks, a fresh dict.

    Each value is the documented total for the instruction in that form, EA included; keys in
    PM_PLUS_M[model] add m. A task switch costs  pm[base] + pm[f"ts_{instr}_{old}_to_{new}"]
    with base one of call_tss(_m), call_task_gate(_m), jmp_tss(_m), jmp_task_gate(_m),
    iret_task, int_task_gate (int3_/into_ alike, with instr "int"), instr the base without
    "_m", old the outgoing TSS ("tss32", "tss16", and "v86" for INT from a V86 task) and new
    the incoming one ("tss32", "tss16", "v86"). docs/timing.md lists every key.
    """
    model = _check_model(model)
    if model not in _PM:
        raise ValueError(f"{model} has no protected mode")
    return dict(_PM[model])


def task_switch_cycles(model: str, instr: str, old: str, new: str, indirect: bool = False) -> int:
    """Total clocks of a task switch (without +m): instr is one of call_tss, call_task_gate,
    jmp_tss, jmp_task_gate, iret, int; old/new are "tss32", "tss16" or "v86" (old "v86" only
    for int); indirect selects the m16:16 form of CALL/JMP."""
    pm = pm_costs(model)
    base = {"iret": "iret_task", "int": "int_task_gate"}.get(instr, instr)
    if indirect and instr not in ("iret", "int"):
        base += "_m"
    key = f"ts_{instr}_{old}_to_{new}"
    if key not in pm:
        raise ValueError(f"{model}: no task switch {instr} from {old} to {new}")
    return pm[base] + pm[key]


def call_gate_cycles(model: str, params: int, inner: bool, indirect: bool = False) -> int:
    """CALL through a call gate (without +m): same privilege, or to an inner level copying
    `params` parameters (the word/dword count of the gate)."""
    pm = pm_costs(model)
    m = "_m" if indirect else ""
    if not inner:
        return pm["call_gate_same" + m]
    if params == 0:
        return pm["call_gate_inner" + m]
    return pm["call_gate_inner_x" + m] + pm["call_gate_per_param"] * params


# Page-table walk on a TLB miss: none of the manuals used here ([386PRM], [486PRM], [P5DM])
# prints a clock figure for it, so none is given (docs/timing.md).
PAGE_WALK_DOCUMENTED = False


def parse_key(key: str) -> tuple[int, int, int]:
    """Split an opcode key into (opcode, prefix, reg): prefix is 0x0F for two-byte opcodes,
    else 0; reg is the ModR/M reg field of a group key, else -1."""
    base, _, reg = key.partition(".")
    if len(base) == 4:
        return int(base[2:], 16), int(base[:2], 16), int(reg) if reg else -1
    return int(base, 16), 0, int(reg) if reg else -1


# ---------------------------------------------------------------------------------------------
# Documented vs measured (python -m core.timing --compare-8086)
# ---------------------------------------------------------------------------------------------


# The tests were captured on a real 8086 with a full prefetch queue and no wait states
# (conformance README section 4). Each test's `cycles` list has one entry per clock, from the
# first byte of the instruction (prefixes included) to the last clock before the next
# instruction's first byte leaves the queue, so len(cycles) is the hardware's clock count.

DEFAULT_CONFORMANCE_8086 = "/work/shared/conformance/8086"

_PREFIX_SEG = {0x26, 0x2E, 0x36, 0x3E}
_PREFIX_LOCK = {0xF0, 0xF1}
_PREFIX_REP = {0xF2, 0xF3}
_MODRM_8086 = (set(range(0x00, 0x40)) & {b + i for b in range(0, 0x40, 8) for i in range(4)}
               | set(range(0x80, 0x90)) | {0xC4, 0xC5, 0xC6, 0xC7} | set(range(0xD0, 0xD4))
               | set(range(0xD8, 0xE0)) | {0xF6, 0xF7, 0xFE, 0xFF})
_STRING_OPS = {0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF}
_COND_BRANCH = set(range(0x60, 0x80)) | {0xE0, 0xE1, 0xE2, 0xE3}
_REGS16 = ("ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags")


def _read_moo_8086(path: str):
    """Yield tests from an 8086 MOO file as dicts shaped like the JSON tests (only the parts
    the comparison needs: name, bytes, initial/final regs, cycles as (t_state, bus, addr))."""
    import gzip
    import struct

    data = gzip.open(path).read()

    def chunks(lo, hi):
        while lo < hi:
            cid, n = data[lo:lo + 4], struct.unpack_from("<I", data, lo + 4)[0]
            yield cid, lo + 8, n
            lo += 8 + n

    def regs(lo, hi):
        for cid, o, _n in chunks(lo, hi):
            if cid == b"REGS":
                mask, vals, p = struct.unpack_from("<H", data, o)[0], {}, o + 2
                for i, name in enumerate(_REGS16):
                    if mask >> i & 1:
                        vals[name] = struct.unpack_from("<H", data, p)[0]
                        p += 2
                return vals
        return {}

    t_names = ("Ti", "T1", "T2", "T3", "T4", "Tw")
    bus_names = ("INTA", "IOR", "IOW", "MEMR", "MEMW", "HALT", "CODE", "PASV")
    for cid, o, n in chunks(0, len(data)):
        if cid != b"TEST":
            continue
        test = {"initial": {}, "final": {}}
        for sid, so, sn in chunks(o + 4, o + n):
            if sid == b"NAME":
                ln = struct.unpack_from("<I", data, so)[0]
                test["name"] = data[so + 4:so + 4 + ln].decode("ascii", "replace")
            elif sid == b"BYTS":
                ln = struct.unpack_from("<I", data, so)[0]
                test["bytes"] = list(data[so + 4:so + 4 + ln])
            elif sid == b"INIT":
                test["initial"]["regs"] = regs(so, so + sn)
            elif sid == b"FINA":
                test["final"]["regs"] = regs(so, so + sn)
            elif sid == b"CYCL":
                count = struct.unpack_from("<I", data, so)[0]
                cyc = []
                for i in range(count):
                    rec = struct.unpack_from("<BIBBBBHBBBB", data, so + 4 + 15 * i)
                    cyc.append([rec[0], rec[1], None, None, None, None, None,
                                bus_names[rec[7]] if rec[7] < 8 else "PASV",
                                t_names[rec[8]] if rec[8] < 6 else "Ti", None, None])
                test["cycles"] = cyc
        yield test


def _load_8086_tests(data_dir: str, key: str):
    import gzip
    import json
    import os

    path = os.path.join(data_dir, key + ".json.gz")
    if os.path.exists(path):
        return json.loads(gzip.open(path).read())
    path = os.path.join(data_dir, key + ".MOO.gz")
    if os.path.exists(path):
        return list(_read_moo_8086(path))
    return None


def _odd_data_access(cycles) -> bool:
    """True if any data (not code-fetch) bus cycle starts at an odd address."""
    for c in cycles:
        if c[8] == "T1" and c[7] in ("MEMR", "MEMW", "IOR", "IOW") and c[1] & 1:
            return True
    return False


def _analyse_8086_test(key: str, t: Timing, test: dict):
    """(variant, documented_total, measured, count, base_measured, aligned) for one test, where
    base_measured is the measured clocks minus the EA, the prefixes and the per-count part,
    i.e. comparable with the table's reg/mem/taken field."""
    code = test["bytes"]
    i = n_seg = n_lock = n_rep = 0
    while code[i] in _PREFIX_SEG | _PREFIX_LOCK | _PREFIX_REP:
        n_seg += code[i] in _PREFIX_SEG
        n_lock += code[i] in _PREFIX_LOCK
        n_rep += code[i] in _PREFIX_REP
        i += 1
    op = code[i]
    init = test["initial"]["regs"]
    fin = {**init, **test["final"]["regs"]}
    measured = len(test["cycles"])
    prefix_clocks = prefix_cycles("8086") * (n_seg + n_lock + n_rep)
    ea = 0
    form = "reg"
    if op in _MODRM_8086:
        modrm = code[i + 1]
        if modrm >> 6 != 3:
            form = "mem"
            ea = ea_cycles_8086(modrm >> 6, modrm & 7)
    base = t.mem if form == "mem" else t.reg
    count = 0
    per = 0
    next_ip = (init["ip"] + len(code)) & 0xFFFF
    if op in _STRING_OPS and n_rep:
        form = "rep"
        prefix_clocks -= prefix_cycles("8086")   # rep_base includes the REP prefix
        count = (init["cx"] - fin["cx"]) & 0xFFFF
        base, per = t.rep_base, t.rep_iter
    elif op in _COND_BRANCH or op == 0xCE:
        if op != 0xCE and code[i + 1] == 0:
            return None                          # rel8 = 0: taken and not taken look alike
        if fin["ip"] != next_ip or fin["cs"] != init["cs"]:
            form, base = "taken", t.taken
        else:
            form = "nottaken"
    elif op in (0xD2, 0xD3):
        count = init["cx"] & 0xFF
        per = t.per_count
    if fin["cs"] == 0 and fin["ip"] == 0x400 and op in (0xD4, 0xF6, 0xF7):
        form = "fault"                           # divide error taken inside the test
        base = base + _INTERRUPTS["8086"]["exception"]
    documented = prefix_clocks + ea + base + per * count
    base_measured = measured - prefix_clocks - ea - per * count
    if form == "rep":
        base_measured = None
    word = t.word_transfers or t.reg_word_transfers or t.rep_word_transfers
    aligned = not (word and _odd_data_access(test["cycles"]))
    return form, documented, measured, count, base_measured, aligned


def _fit(points):
    """Least-squares intercept and slope of measured against count."""
    n = len(points)
    sx = sum(p[0] for p in points)
    sy = sum(p[1] for p in points)
    sxx = sum(p[0] * p[0] for p in points)
    sxy = sum(p[0] * p[1] for p in points)
    den = n * sxx - sx * sx
    if n < 2 or den == 0:
        return None
    slope = (n * sxy - sx * sy) / den
    return (sy - slope * sx) / n, slope


def compare_8086(data_dir: str = DEFAULT_CONFORMANCE_8086, keys=None) -> list[dict]:
    """Documented vs measured clocks per 8086 opcode key and form, from the conformance tests.

    One row per (key, form); form is reg, mem, taken, nottaken, rep or fault. `doc` and
    `hw` are the medians of the documented and measured totals over the tests whose word
    transfers are all at even addresses (the documented figures assume that); `delta` is the
    median of hw - doc over those tests. `doc_base`/`hw_base` compare the table field itself
    (EA, prefixes and per-count clocks removed). For rep and shift-by-CL forms `fit` is the
    least-squares (intercept, slope) of measured clocks against the count.
    `keys` restricts the comparison to those opcode keys.
    """
    from statistics import median

    tab = table("8086")
    rows = []
    for key in sorted(keys if keys is not None else tab, key=_key_order):
        tests = _load_8086_tests(data_dir, key)
        if not tests:
            continue
        t = tab[key]
        by_form: dict[str, list] = {}
        for test in tests:
            r = _analyse_8086_test(key, t, test)
            if r is None:
                continue
            by_form.setdefault(r[0], []).append(r)
        for form, rs in sorted(by_form.items()):
            al = [r for r in rs if r[5]] or rs
            row = {
                "key": key,
                "name": _mnemonic(tests[0]["name"]),
                "form": form,
                "n": len(rs),
                "n_aligned": len([r for r in rs if r[5]]),
                "doc": median(r[1] for r in al),
                "hw": median(r[2] for r in al),
                "hw_all": median(r[2] for r in rs),
                "delta": median(r[2] - r[1] for r in al),
                "doc_base": None, "hw_base": None, "fit": None,
            }
            if form == "rep":
                row["doc_base"] = f"{t.rep_base}+{t.rep_iter}n"
                fit = _fit([(r[3], r[2] - (r[1] - t.rep_base - t.rep_iter * r[3])) for r in al])
                row["fit"] = fit
            else:
                base = {"reg": t.reg, "nottaken": t.reg, "mem": t.mem, "taken": t.taken,
                        "fault": None}[form]
                row["doc_base"] = base
                row["hw_base"] = median(r[4] for r in al)
                if key.startswith(("D2", "D3")):
                    row["fit"] = _fit([(r[3], r[4] + t.per_count * r[3]) for r in al])
            rows.append(row)
    return rows


def _mnemonic(name: str) -> str:
    words = [w for w in name.replace(",", " ").split()
             if w not in ("cs", "ds", "es", "ss", "rep", "repe", "repne", "repz", "repnz",
                          "lock")]
    return words[0] if words else name


def _key_order(key: str):
    op, pre, reg = parse_key(key)
    return pre, op, reg


def _format_compare(rows: list[dict]) -> str:
    out = ["8086 instruction clocks: documented [86UM] vs measured (conformance data, median)",
           "doc/hw: whole instruction incl. prefixes and EA, over tests with no odd-address "
           "word transfer;",
           "base: the table field vs the measured clocks minus EA/prefixes/per-count; "
           "fit: intercept + slope*count", ""]
    head = f"{'key':6} {'mnem':7} {'form':8} {'n':>4} {'doc':>7} {'hw':>7} {'delta':>6}  " \
           f"{'base doc':>9} {'base hw':>8}  fit"
    out += [head, "-" * len(head)]
    for r in rows:
        fit = r["fit"]
        fit_s = f"{fit[0]:.1f} + {fit[1]:.2f}n" if fit else ""
        hw_base = "" if r["hw_base"] is None else f"{r['hw_base']:g}"
        doc_base = "" if r["doc_base"] is None else f"{r['doc_base']}"
        out.append(f"{r['key']:6} {r['name'][:7]:7} {r['form']:8} {r['n']:>4} "
                   f"{r['doc']:>7g} {r['hw']:>7g} {r['delta']:>+6g}  {doc_base:>9} "
                   f"{hw_base:>8}  {fit_s}")
    deltas = [r["delta"] for r in rows if r["form"] not in ("rep", "fault")]
    exact = sum(1 for d in deltas if d == 0)
    near = sum(1 for d in deltas if abs(d) <= 2)
    out += ["", f"{len(rows)} rows; of {len(deltas)} non-REP rows, {exact} match exactly, "
                f"{near} within 2 clocks; median delta {sorted(deltas)[len(deltas) // 2]:+g}"]
    return "\n".join(out)


def _main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m core.timing",
                                 description="Documented instruction clock tables.")
    ap.add_argument("--compare-8086", action="store_true",
                    help="print documented vs measured clocks from the 8086 conformance data")
    ap.add_argument("--data", default=DEFAULT_CONFORMANCE_8086,
                    help="directory of the 8086 conformance files")
    ap.add_argument("--dump", metavar="MODEL", help="print the table of one model")
    args = ap.parse_args(argv)
    if args.compare_8086:
        print(_format_compare(compare_8086(args.data)))
        return 0
    if args.dump:
        for key, t in sorted(table(args.dump).items(), key=lambda kv: _key_order(kv[0])):
            print(key, {k: v for k, v in zip(FIELDS, t.as_tuple()) if v})
        return 0
    ap.print_help()
    return 1


if __name__ == "__main__":
    raise SystemExit(_main())


# ---------------------------------------------------------------------------------------------
# The x87 of the 80486, Pentium and Pentium II: clocks per instruction form [486PRM appendix
# "Floating-point instruction clock counts"; P5DM vol. 3 "Floating-point clock counts"; for the
# P6, the latencies of the Pentium II developer's and optimization manuals, the rest as the
# Pentium].  A range prints its minimum, as the integer tables do; the figures assume the
# operand in the cache.  x87_clocks(model) lays them out for core/cpu.pyx by form:
#   index esc * 8 + reg           for a memory operand (ModR/M mod != 3)
#   index 64 + esc * 64 + (modrm & 0x3F)   for a register form (mod == 3)
# ---------------------------------------------------------------------------------------------

X87_FORMS = 64 + 8 * 64

# Memory forms by (esc, reg) -> class.
_X87_MEM = {
    (0, 0): "fadd_m", (0, 1): "fmul_m32", (0, 2): "fcom_m", (0, 3): "fcom_m",
    (0, 4): "fadd_m", (0, 5): "fadd_m", (0, 6): "fdiv_m", (0, 7): "fdiv_m",
    (1, 0): "fld_m", (1, 2): "fst_m32", (1, 3): "fst_m32", (1, 4): "fldenv", (1, 5): "fldcw",
    (1, 6): "fstenv", (1, 7): "fstcw",
    (2, 0): "fiadd", (2, 1): "fimul", (2, 2): "ficom", (2, 3): "ficom", (2, 4): "fiadd",
    (2, 5): "fiadd", (2, 6): "fidiv", (2, 7): "fidiv",
    (3, 0): "fild", (3, 2): "fist", (3, 3): "fist", (3, 5): "fld_m80", (3, 7): "fstp_m80",
    (4, 0): "fadd_m", (4, 1): "fmul_m64", (4, 2): "fcom_m", (4, 3): "fcom_m",
    (4, 4): "fadd_m", (4, 5): "fadd_m", (4, 6): "fdiv_m", (4, 7): "fdiv_m",
    (5, 0): "fld_m", (5, 2): "fst_m64", (5, 3): "fst_m64", (5, 4): "frstor", (5, 6): "fsave",
    (5, 7): "fstsw",
    (6, 0): "fiadd", (6, 1): "fimul", (6, 2): "ficom", (6, 3): "ficom", (6, 4): "fiadd",
    (6, 5): "fiadd", (6, 6): "fidiv", (6, 7): "fidiv",
    (7, 0): "fild", (7, 2): "fist", (7, 3): "fist", (7, 4): "fbld", (7, 5): "fild",
    (7, 6): "fbstp", (7, 7): "fist",
}

# Register forms of D9 E0-FF and the other single encodings.
_X87_D9 = {0xE0: "fchs", 0xE1: "fabs", 0xE4: "ftst", 0xE5: "fxam", 0xE8: "fld1",
           0xE9: "fldconst", 0xEA: "fldconst", 0xEB: "fldconst", 0xEC: "fldconst",
           0xED: "fldconst", 0xEE: "fldz", 0xF0: "f2xm1", 0xF1: "fyl2x", 0xF2: "fptan",
           0xF3: "fpatan", 0xF4: "fxtract", 0xF5: "fprem1", 0xF6: "fincstp", 0xF7: "fincstp",
           0xF8: "fprem", 0xF9: "fyl2xp1", 0xFA: "fsqrt", 0xFB: "fsincos", 0xFC: "frndint",
           0xFD: "fscale", 0xFE: "fsin", 0xFF: "fcos", 0xD0: "fnop"}


def _x87_reg_class(esc, modrm):
    grp, reg = modrm & 0xF8, (modrm >> 3) & 7
    if esc in (0, 4, 6):
        if esc == 6 and modrm == 0xD9:
            return "fcom"                               # FCOMPP
        return {0: "fadd", 1: "fmul", 2: "fcom", 3: "fcom", 4: "fadd", 5: "fadd",
                6: "fdiv", 7: "fdiv"}[reg]
    if esc == 1:
        if grp == 0xC0:
            return "fld_st"
        if grp == 0xC8:
            return "fxch"
        if grp == 0xD8:
            return "fst_st"                             # FSTP1 (undocumented alias)
        return _X87_D9.get(modrm)
    if esc == 2:
        if reg < 4:
            return "fcmov"
        return "fcom" if modrm == 0xE9 else None        # FUCOMPP
    if esc == 3:
        if reg < 4:
            return "fcmov"
        if modrm == 0xE2 or modrm == 0xE3:
            return "fclex" if modrm == 0xE2 else "finit"
        if modrm in (0xE0, 0xE1, 0xE4):
            return "fnop"                               # FENI, FDISI, FSETPM: no-ops here
        if reg in (5, 6):
            return "fcomi"
        return None
    if esc == 5:
        return {0: "ffree", 1: "fxch", 2: "fst_st", 3: "fst_st", 4: "fcom", 5: "fcom"}.get(reg)
    if esc == 7:
        if modrm == 0xE0:
            return "fstsw"
        if reg == 0:
            return "ffree"                              # FFREEP
        if reg in (5, 6):
            return "fcomi"
        return {1: "fxch", 2: "fst_st", 3: "fst_st"}.get(reg)
    return None


_X87_CLOCKS_486 = {
    "fld_m": 3, "fld_m80": 6, "fld_st": 4, "fild": 9, "fbld": 70,
    "fst_m32": 7, "fst_m64": 8, "fstp_m80": 6, "fst_st": 3, "fist": 28, "fbstp": 172,
    "fxch": 4, "fchs": 6, "fabs": 3, "fld1": 4, "fldz": 4, "fldconst": 8,
    "fadd": 8, "fadd_m": 8, "fiadd": 19, "fmul": 16, "fmul_m32": 11, "fmul_m64": 14,
    "fimul": 22, "fdiv": 73, "fdiv_m": 73, "fidiv": 84,
    "fcom": 4, "fcom_m": 4, "ficom": 15, "ftst": 4, "fxam": 8, "fcomi": 4, "fcmov": 4,
    "fsqrt": 83, "fscale": 30, "fxtract": 16, "fprem": 70, "fprem1": 72, "frndint": 21,
    "f2xm1": 140, "fyl2x": 196, "fyl2xp1": 171, "fptan": 200, "fpatan": 218, "fsin": 193,
    "fcos": 193, "fsincos": 243,
    "finit": 17, "fclex": 7, "fstsw": 3, "fstcw": 3, "fldcw": 4, "fstenv": 56, "fldenv": 44,
    "fsave": 143, "frstor": 131, "ffree": 3, "fincstp": 3, "fnop": 1,
}

_X87_CLOCKS_PENTIUM = {
    "fld_m": 1, "fld_m80": 3, "fld_st": 1, "fild": 3, "fbld": 48,
    "fst_m32": 2, "fst_m64": 2, "fstp_m80": 3, "fst_st": 1, "fist": 6, "fbstp": 148,
    "fxch": 1, "fchs": 1, "fabs": 1, "fld1": 2, "fldz": 2, "fldconst": 3,
    "fadd": 3, "fadd_m": 3, "fiadd": 7, "fmul": 3, "fmul_m32": 3, "fmul_m64": 3,
    "fimul": 7, "fdiv": 39, "fdiv_m": 39, "fidiv": 42,
    "fcom": 1, "fcom_m": 1, "ficom": 4, "ftst": 1, "fxam": 17, "fcomi": 1, "fcmov": 1,
    "fsqrt": 70, "fscale": 20, "fxtract": 12, "fprem": 16, "fprem1": 20, "frndint": 9,
    "f2xm1": 13, "fyl2x": 22, "fyl2xp1": 22, "fptan": 17, "fpatan": 19, "fsin": 16,
    "fcos": 16, "fsincos": 17,
    "finit": 16, "fclex": 9, "fstsw": 2, "fstcw": 2, "fldcw": 7, "fstenv": 48, "fldenv": 32,
    "fsave": 124, "frstor": 70, "ffree": 1, "fincstp": 1, "fnop": 1,
}

# The P6's execution latencies where they differ from the Pentium's.
_X87_CLOCKS_P6 = dict(_X87_CLOCKS_PENTIUM, fmul=5, fmul_m32=5, fmul_m64=5, fimul=8,
                      fdiv=38, fdiv_m=38, fidiv=42, fsqrt=69, fild=5, fist=5, fcmov=2,
                      fcomi=1, fxch=1)

# The separate coprocessors, in their own clocks (the minimum of each data-sheet range; a
# memory form's effective address is the CPU's, charged by its ESC line) [8087 data sheet,
# "Execution times"; 80287 data sheet, the same microcode and figures as the 8087, plus
# FSTSW AX and FSETPM; 80387 DX data sheet, "Instruction formats and timing"].  They run
# concurrently with the CPU: core/cpu.pyx keeps the unit busy for this long and lets WAIT
# (and, on the 80286/80386, the next ESC, which samples BUSY#) wait for it.  The 8087's
# and 287's FMUL figure is the 64-bit-precision one; transcendentals are the minimum of
# an operand-dependent range.
_X87_CLOCKS_8087 = {
    "fld_m": 38, "fld_m80": 53, "fld_st": 17, "fild": 46, "fbld": 290,
    "fst_m32": 84, "fst_m64": 96, "fstp_m80": 52, "fst_st": 15, "fist": 80, "fbstp": 520,
    "fxch": 10, "fchs": 10, "fabs": 10, "fld1": 15, "fldz": 11, "fldconst": 16,
    "fadd": 70, "fadd_m": 90, "fiadd": 102, "fmul": 90, "fmul_m32": 110, "fmul_m64": 112,
    "fimul": 124, "fdiv": 193, "fdiv_m": 215, "fidiv": 224,
    "fcom": 40, "fcom_m": 60, "ficom": 72, "ftst": 38, "fxam": 12,
    "fsqrt": 180, "fscale": 32, "fxtract": 27, "fprem": 15, "frndint": 16,
    "f2xm1": 310, "fyl2x": 900, "fyl2xp1": 700, "fptan": 30, "fpatan": 250,
    "finit": 2, "fclex": 2, "fstsw": 12, "fstcw": 12, "fldcw": 7, "fstenv": 40, "fldenv": 35,
    "fsave": 197, "frstor": 197, "ffree": 9, "fincstp": 6, "fnop": 10,
}

_X87_CLOCKS_387 = {
    "fld_m": 20, "fld_m80": 44, "fld_st": 14, "fild": 45, "fbld": 266,
    "fst_m32": 44, "fst_m64": 45, "fstp_m80": 53, "fst_st": 11, "fist": 79, "fbstp": 512,
    "fxch": 18, "fchs": 24, "fabs": 22, "fld1": 24, "fldz": 20, "fldconst": 40,
    "fadd": 23, "fadd_m": 24, "fiadd": 57, "fmul": 29, "fmul_m32": 27, "fmul_m64": 32,
    "fimul": 61, "fdiv": 88, "fdiv_m": 89, "fidiv": 120,
    "fcom": 24, "fcom_m": 26, "ficom": 56, "ftst": 28, "fxam": 30,
    "fsqrt": 122, "fscale": 67, "fxtract": 70, "fprem": 74, "fprem1": 95, "frndint": 66,
    "f2xm1": 211, "fyl2x": 120, "fyl2xp1": 257, "fptan": 191, "fpatan": 314, "fsin": 122,
    "fcos": 123, "fsincos": 194,
    "finit": 33, "fclex": 11, "fstsw": 13, "fstcw": 15, "fldcw": 19, "fstenv": 103,
    "fldenv": 71, "fsave": 375, "frstor": 308, "ffree": 18, "fincstp": 21, "fnop": 12,
}

_X87_BY_MODEL = {"80486": _X87_CLOCKS_486, "pentium": _X87_CLOCKS_PENTIUM,
                 "pentium2": _X87_CLOCKS_P6}
# core/models.COPROCESSORS by name.
_X87_BY_COPROCESSOR = {"8087": _X87_CLOCKS_8087, "287": _X87_CLOCKS_8087,
                       "387": _X87_CLOCKS_387}


def x87_class(esc, modrm):
    """The timing class of x87 instruction ESC (0-7 for D8-DF) with ModR/M `modrm`, or
    None for an encoding without one (reserved forms raise #UD before any timing)."""
    if modrm < 0xC0:
        return _X87_MEM.get((esc, (modrm >> 3) & 7))
    return _x87_reg_class(esc, modrm)


def x87_clocks(model, coprocessor=None):
    """The model's x87 clocks laid out by form (see X87_FORMS), 0 where it has none; all 0
    for a model without an on-chip FPU.  `coprocessor` ('8087', '287', '387') gives that
    chip's clocks instead, for the models that take one (core/models.coprocessor)."""
    if coprocessor is not None:
        _check_model(model)
        clocks = _X87_BY_COPROCESSOR[coprocessor]
    else:
        clocks = _X87_BY_MODEL.get(_check_model(model))
    out = [0] * X87_FORMS
    if clocks is None:
        return out
    for esc in range(8):
        for reg in range(8):
            cls = _X87_MEM.get((esc, reg))
            out[esc * 8 + reg] = clocks.get(cls, 0) if cls else 0
        for low in range(64):
            # 0 also for a form this generation does not have (FSIN on the 287).
            cls = _x87_reg_class(esc, 0xC0 | low)
            out[64 + esc * 64 + low] = clocks.get(cls, 0) if cls else 0
    return out
