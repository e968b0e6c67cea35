"""CPU models as data: instruction-set level, quirks and bus facts.

A model is not a fork of the code: the CPU reads these fields at construction and
branches on them where the hardware differs.  Sources: Intel 8086 Family User's
Manual (1979), 80186/80188 data sheet, 80286 and 80386 Programmer's Reference
Manuals, and the behaviour captured in the SingleStepTests suites.
"""
from dataclasses import dataclass

# Instruction-set levels, used by the opcode table for gating.
ISA_8086, ISA_186, ISA_286, ISA_386, ISA_486, ISA_586, ISA_686 = range(7)
ISA_NAMES = {ISA_8086: "8086", ISA_186: "80186", ISA_286: "80286", ISA_386: "80386",
             ISA_486: "80486", ISA_586: "Pentium", ISA_686: "Pentium Pro"}


@dataclass(frozen=True)
class Model:
    name: str
    isa: int
    address_bits: int          # physical address bus width
    bus_bits: int              # data bus width (8088: 8)
    frequency: int             # default CPU clock in Hz
    fpu: bool = False
    # PUSH SP pushes the value after the decrement (8086/8088/80186).
    push_sp_new: bool = False
    # Shift/rotate counts are taken mod 32 (80186 and later); the 8086 uses all 8 bits of CL.
    shift_count_mask: int = 0x1F
    # The divide-error interrupt returns to the instruction after the DIV (8086/8088);
    # 286+ push the address of the faulting instruction so it can be restarted.
    div_error_returns_next: bool = False
    # A REP/REPNE prefix on IDIV/IMUL negates the result (8086/8088 microcode quirk).
    rep_negates_muldiv: bool = False
    # IDIV with a quotient of exactly -128/-32768 raises #DE (8086/8088).
    idiv_min_quotient_faults: bool = False
    # FLAGS bits 12-15 read as 1 (8086/8088/80186).
    flags_high_ones: bool = False
    # A word access at offset 0xFFFF wraps inside the segment (8086/80186) instead of
    # raising #GP/#SS (286+ real mode segment-limit check).
    word_wraps_in_segment: bool = False
    # Longest legal instruction; a longer one raises #UD (286) or #GP (386+).
    max_insn_len: int = 0
    # Opcodes that had no #UD before the 80186: the 8086 runs them as aliases.
    has_ud: bool = True
    # ESC opcodes without a coprocessor raise #NM (int 7) (80186 "ESC trap", 286+ EM=1
    # or no coprocessor); the 8086 just reads the operand for a coprocessor that is absent.
    esc_traps: bool = True
    # LOCK on an instruction that cannot be locked raises #UD (386+).
    lock_ud: bool = False
    # POPF/IRET may change IOPL and NT in real mode (386+; the 286 keeps them 0).
    real_mode_iopl_nt: bool = False
    # Prefetch queue length in bytes (bus-exact timing, a later issue).
    queue_len: int = 6


MODELS = {
    "8088": Model("8088", ISA_8086, 20, 8, 4_772_727, push_sp_new=True, shift_count_mask=0xFF,
                  div_error_returns_next=True, rep_negates_muldiv=True,
                  idiv_min_quotient_faults=True, flags_high_ones=True,
                  word_wraps_in_segment=True, has_ud=False, esc_traps=False, queue_len=4),
    "8086": Model("8086", ISA_8086, 20, 16, 4_772_727, push_sp_new=True, shift_count_mask=0xFF,
                  div_error_returns_next=True, rep_negates_muldiv=True,
                  idiv_min_quotient_faults=True, flags_high_ones=True,
                  word_wraps_in_segment=True, has_ud=False, esc_traps=False, queue_len=6),
    "80186": Model("80186", ISA_186, 20, 16, 8_000_000, push_sp_new=True,
                   flags_high_ones=True, word_wraps_in_segment=True, queue_len=6),
    "80286": Model("80286", ISA_286, 24, 16, 12_000_000, max_insn_len=10),
    "80386": Model("80386", ISA_386, 32, 32, 33_000_000, max_insn_len=15, lock_ud=True,
                   real_mode_iopl_nt=True, queue_len=16),
}
ALIASES = {"86": "8086", "88": "8088", "186": "80186", "286": "80286", "386": "80386",
           "i386": "80386", "i286": "80286"}


def get_model(name):
    """Look a model up by name ('8086', '80286', '286', ...); raise ValueError naming the options."""
    key = ALIASES.get(str(name).lower(), str(name))
    try:
        return MODELS[key]
    except KeyError:
        raise ValueError("unknown CPU model %r (choose from %s)"
                         % (name, ", ".join(MODELS))) from None
