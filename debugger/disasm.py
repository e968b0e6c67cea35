"""Disassembly for the debugger: capstone's Intel-syntax text plus the facts the controller needs.

The controller asks "is this a CALL?" (to step over it), "is this a REP string op or an INT?"
(also stepped over by `next`), "is this a return?" (`finish`) and "where does this branch go?"
(the disassembly pane's arrows). Those answers come from the instruction *bytes*, read here with
the opcode map of the Intel SDM vol. 2 appendix A, not from capstone's mnemonic spelling, so they
stay right whatever name capstone prints (lcall, ljmp, iretd, repne scasb...).

Real mode is CS:IP-aware: `address` is the offset (IP or EIP) and 16-bit offsets wrap at 64 KiB,
as the CPU's IP does; `linear_base` (the CS base) gives each instruction its linear address.
The caller passes the bytes at consecutive offsets, so code that runs across IP=0xFFFF must be
read with that wrap already applied.
"""
from __future__ import annotations

from dataclasses import dataclass

import capstone

__all__ = ["Instruction", "disassemble", "disassemble_one", "format_line"]

# Longest legal x86 instruction (SDM vol. 2, 2.3.11): capstone never needs more bytes than this.
MAX_INSN_LEN = 15

# Legacy prefixes (SDM vol. 2, 2.1.1): LOCK, REPNE, REP, the six segment overrides,
# operand-size and address-size.
_PREFIXES = frozenset((0xF0, 0xF2, 0xF3, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67))

# One-byte opcodes by behaviour.
_STRING_OPS = frozenset((0x6C, 0x6D, 0x6E, 0x6F, 0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD,
                         0xAE, 0xAF))  # INS OUTS MOVS CMPS STOS LODS SCAS
_RETURNS = frozenset((0xC2, 0xC3, 0xCA, 0xCB, 0xCF))  # RET imm16, RET, RETF imm16, RETF, IRET
_INTERRUPTS = frozenset((0xCC, 0xCD, 0xCE, 0xF1))  # INT3, INT n, INTO, INT1 (ICEBP)
_REL8_BRANCHES = frozenset(range(0x70, 0x80)) | {0xE0, 0xE1, 0xE2, 0xE3, 0xEB}  # Jcc LOOPx JCXZ JMP

# x87 register forms whose ST(0) operand capstone leaves out ("fadd st(1)" for D8 C1), which
# reads as the other direction: (escape byte, ModRM reg field) -> which side ST(0) is on
# [SDM vol. 2 the FADD/FSUB/FMUL/FDIV(R) pages, FCOMI, FCMOVcc; Appendix A.5 Table A-8].
# D8: op ST(0), ST(i).  DC and DE (the popping forms): op ST(i), ST(0).  DA/DB FCMOVcc and
# DB/DF FUCOMI/FCOMI(P): ST(0), ST(i).  FCOM/FCOMP/FUCOM(P)/FXCH keep Intel's one-operand
# spelling.
_X87_ST0_FIRST = {(0xD8, r) for r in (0, 1, 4, 5, 6, 7)} | {(0xDA, r) for r in range(4)} \
    | {(0xDB, r) for r in (0, 1, 2, 3, 5, 6)} | {(0xDF, r) for r in (5, 6)}
_X87_ST0_SECOND = {(0xDC, r) for r in (0, 1, 4, 5, 6, 7)} | {(0xDE, r) for r in (0, 1, 4, 5, 6, 7)}


def _x87_operands(code: bytes, op_str: str) -> str:
    """Both operands of an x87 register-form arithmetic, compare or move, as Bochs prints them."""
    i = 0
    while i < len(code) and code[i] in _PREFIXES:
        i += 1
    if i + 1 >= len(code) or not 0xD8 <= code[i] <= 0xDF or code[i + 1] < 0xC0:
        return op_str
    key = (code[i], (code[i + 1] >> 3) & 7)
    sti = "st(%d)" % (code[i + 1] & 7)
    if key in _X87_ST0_FIRST:
        return "st(0), " + sti
    if key in _X87_ST0_SECOND:
        return sti + ", st(0)"
    return op_str


_MODES = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32}
_engines: dict[int, capstone.Cs] = {}


def _engine(bits: int) -> capstone.Cs:
    # Creating a Cs handle costs far more than decoding one instruction, so keep one per mode.
    md = _engines.get(bits)
    if md is None:
        if bits not in _MODES:
            raise ValueError("bits must be 16 or 32, not %r" % (bits,))
        md = capstone.Cs(capstone.CS_ARCH_X86, _MODES[bits])
        md.syntax = capstone.CS_OPT_SYNTAX_INTEL
        _engines[bits] = md
    return md


@dataclass(frozen=True)
class Instruction:
    """One decoded instruction (or one undecodable byte, shown as `db 0x..`)."""

    address: int            # offset in the code segment: the IP/EIP value it sits at
    linear: int | None      # linear address, when the caller gave the segment base
    size: int
    bytes: bytes
    mnemonic: str           # lower case, prefixes included ("rep movsb")
    op_str: str
    bits: int = 16          # code size the bytes were decoded for

    @property
    def text(self) -> str:
        return "%s %s" % (self.mnemonic, self.op_str) if self.op_str else self.mnemonic

    @property
    def next_address(self) -> int:
        """Offset of the following instruction (wraps at 64 KiB in 16-bit code)."""
        return (self.address + self.size) & _offset_mask(self.bits)

    # -- classification from the bytes ------------------------------------------------------

    def _split(self) -> tuple[frozenset, int, bytes]:
        """(prefixes, index of the opcode, bytes) - an empty opcode means a `db` byte."""
        if self.mnemonic == "db":
            return frozenset(), len(self.bytes), self.bytes
        i = 0
        code = self.bytes
        while i < len(code) and code[i] in _PREFIXES:
            i += 1
        return frozenset(code[:i]), i, code

    def _opcode(self) -> tuple[int | None, int | None, int | None]:
        """(first opcode byte, second opcode byte for 0F xx, ModRM reg field) or Nones."""
        _, i, code = self._split()
        if i >= len(code):
            return None, None, None
        op = code[i]
        op2 = code[i + 1] if op == 0x0F and i + 1 < len(code) else None
        reg = (code[i + 1] >> 3) & 7 if op == 0xFF and i + 1 < len(code) else None
        return op, op2, reg

    @property
    def is_call(self) -> bool:
        """CALL near relative (E8), far direct (9A), near/far indirect (FF /2, FF /3)."""
        op, _, reg = self._opcode()
        return op in (0xE8, 0x9A) or (op == 0xFF and reg in (2, 3))

    @property
    def is_interrupt(self) -> bool:
        """INT n, INT3, INTO and INT1 (ICEBP): `next` steps over the handler."""
        op, _, _ = self._opcode()
        return op in _INTERRUPTS

    is_int = is_interrupt

    @property
    def is_rep_string(self) -> bool:
        """A string instruction with a REP/REPE/REPNE prefix (runs many iterations in place)."""
        prefixes, _, _ = self._split()
        op, _, _ = self._opcode()
        return op in _STRING_OPS and bool(prefixes & {0xF2, 0xF3})

    @property
    def is_return(self) -> bool:
        """RET, RET imm16, RETF, RETF imm16, IRET/IRETD."""
        op, _, _ = self._opcode()
        return op in _RETURNS

    @property
    def is_jump(self) -> bool:
        """JMP (any form), Jcc, LOOP/LOOPE/LOOPNE and JCXZ/JECXZ."""
        op, op2, reg = self._opcode()
        return (op in _REL8_BRANCHES or op in (0xE9, 0xEA)
                or (op == 0x0F and op2 is not None and 0x80 <= op2 <= 0x8F)
                or (op == 0xFF and reg in (4, 5)))

    @property
    def is_branch(self) -> bool:
        """Any instruction that may not fall through: jumps, calls, returns and INTs."""
        return self.is_jump or self.is_call or self.is_return or self.is_interrupt

    @property
    def target(self) -> int | None:
        """Target offset of a near direct branch (JMP/Jcc/LOOP/JCXZ/CALL rel), else None.

        The CPU truncates the new IP to the operand size (SDM vol. 2, JMP/Jcc/CALL: "IF
        OperandSize = 16 THEN EIP <- tempEIP AND 0000FFFFH"), so 16-bit code wraps at 64 KiB
        unless an operand-size prefix makes the branch 32-bit. Far direct branches (EA, 9A)
        change CS as well: see `far_target`.
        """
        prefixes, i, code = self._split()
        if i >= len(code):
            return None
        op = code[i]
        wide = (self.bits == 32) != (0x66 in prefixes)  # 0x66 toggles the operand size
        if op in _REL8_BRANCHES:
            rel = _signed(code[i + 1:i + 2], 1)
        elif op in (0xE8, 0xE9):
            rel = _signed(code[i + 1:], 4 if wide else 2)
        elif op == 0x0F and i + 1 < len(code) and 0x80 <= code[i + 1] <= 0x8F:
            rel = _signed(code[i + 2:], 4 if wide else 2)
        else:
            return None
        if rel is None:
            return None
        end = self.address + self.size
        return (end + rel) & (0xFFFFFFFF if wide else 0xFFFF)

    @property
    def far_target(self) -> tuple[int, int] | None:
        """(segment or selector, offset) of a far direct JMP (EA) or CALL (9A), else None."""
        prefixes, i, code = self._split()
        if i >= len(code) or code[i] not in (0xEA, 0x9A):
            return None
        width = 4 if (self.bits == 32) != (0x66 in prefixes) else 2
        operand = code[i + 1:]
        if len(operand) < width + 2:
            return None
        offset = int.from_bytes(operand[:width], "little")
        return int.from_bytes(operand[width:width + 2], "little"), offset


def _signed(data: bytes, width: int) -> int | None:
    if len(data) < width:
        return None
    return int.from_bytes(data[:width], "little", signed=True)


def _offset_mask(bits: int) -> int:
    return 0xFFFF if bits == 16 else 0xFFFFFFFF


def _format_imm(value: int) -> str:
    return "0x%x" % value


def disassemble(code: bytes, address: int, bits: int = 16, count: int | None = None,
                linear_base: int | None = None) -> list[Instruction]:
    """Decode `code`, whose first byte is at offset `address`, into Instructions.

    Stops after `count` instructions, or at the end of `code` when count is None. Bytes capstone
    cannot decode (including an instruction cut off by the end of `code`) become one-byte
    `db 0x..` entries and decoding resumes at the next byte, so the sizes always add up to the
    bytes consumed and this never raises for any input.
    """
    md = _engine(bits)
    mask = _offset_mask(bits)
    code = bytes(code)
    out: list[Instruction] = []
    pos = 0
    ip = address & mask
    while pos < len(code) and (count is None or len(out) < count):
        window = code[pos:pos + MAX_INSN_LEN]
        linear = None if linear_base is None else (linear_base + ip) & 0xFFFFFFFF
        decoded = next(md.disasm_lite(window, ip, 1), None)
        if decoded is None:
            insn = Instruction(ip, linear, 1, window[:1], "db", "0x%02x" % window[0], bits)
        else:
            _, size, mnemonic, op_str = decoded
            op_str = _x87_operands(window[:size], op_str)
            insn = Instruction(ip, linear, size, window[:size], mnemonic, op_str, bits)
            target = insn.target
            if target is not None:
                # capstone computes the target without the 64 KiB wrap and prints small values
                # in decimal; print what the CPU will actually jump to, always in hex.
                insn = Instruction(ip, linear, size, insn.bytes, mnemonic, _format_imm(target),
                                   bits)
        out.append(insn)
        pos += insn.size
        ip = (ip + insn.size) & mask
    return out


def disassemble_one(code: bytes, address: int, bits: int = 16,
                    linear_base: int | None = None) -> Instruction:
    """The first instruction of non-empty `code` (a `db` entry if it does not decode)."""
    if not code:
        raise ValueError("no bytes to disassemble")
    return disassemble(code, address, bits, 1, linear_base)[0]


# Hex bytes are padded to this width (8 bytes) so the text column lines up for almost every
# instruction; longer ones push their text right rather than being cut.
_BYTES_WIDTH = 16


def format_line(insn: Instruction, cs: int | None = None, symbol: str | None = None,
                marker: str | None = None) -> str:
    """One line of `u` / disassembly-pane output.

    Layout (columns separated by two spaces, optional parts left out entirely):

        [MK ]LOCATION  BYTES             TEXT[  ; SYMBOL]

    - MK: `marker` padded to 2 characters (e.g. "=>" for the current instruction, "*" for a
      breakpoint); pass "" on the other lines to keep them aligned, or None for no column.
    - LOCATION: with `cs`, "SSSS:OOOO" (offset in 8 digits in 32-bit code) followed by
      " (0xLLLLLLLL)" when the linear address is known; without `cs`, "0xLLLLLLLL" (the linear
      address if known, else the offset).
    - BYTES: lower-case hex, padded to 16 characters.
    - TEXT: Intel syntax from capstone, lower case.
    - SYMBOL: e.g. "main+0x12", the caller's label for this address.

    Real mode:   "0000:7c00 (0x00007c00)  b8c007            mov ax, 0x7c0"
    Flat 32-bit: "0x00101000  55                push ebp"
    """
    if cs is not None:
        if insn.bits == 16:
            location = "%04x:%04x" % (cs & 0xFFFF, insn.address)
        else:
            location = "%04x:%08x" % (cs & 0xFFFF, insn.address)
        if insn.linear is not None:
            location += " (0x%08x)" % insn.linear
    else:
        location = "0x%08x" % (insn.linear if insn.linear is not None else insn.address)
    line = "%s  %-*s  %s" % (location, _BYTES_WIDTH, insn.bytes.hex(), insn.text)
    if symbol:
        line += "  ; " + symbol
    if marker is not None:
        line = "%-2s %s" % (marker, line)
    return line
