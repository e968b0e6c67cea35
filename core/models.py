"""CPU models as data: instruction-set level, quirks and bus facts.

A model is not a fork of the code: the CPU reads these fields at construction and
branches on them where the hardware differs.  Sources: Intel 8086 Family User's
Manual (1979), 80186/80188 data sheet, 80286 and 80386 Programmer's Reference
Manuals, the Intel486 and Pentium processor manuals, the Pentium II Developer's
Manual, Intel's CPUID application note (AP-485), the Intel SDM (vol. 2 CPUID, vol. 3
"Processor Management and Initialization" Table 9-1 and "Architecture Compatibility",
vol. 4 MSR tables), and the behaviour captured in the SingleStepTests suites.

The CPUID leaves and the model-specific registers of the models that have them are
in core/cpuid.py; docs/models.md describes every model.
"""
import re
from dataclasses import dataclass
from pathlib import Path


def _isa_levels():
    # core/isa.pxd is the one definition of the levels: the Cython core compiles it into
    # C constants, and the Python names come from the same lines.
    text = (Path(__file__).resolve().parent / "isa.pxd").read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(ISA_\w+) = (\d+)$", text, re.M)}


# Instruction-set levels, used by the opcode table for gating.
_LEVELS = _isa_levels()
ISA_8086, ISA_186, ISA_286, ISA_386, ISA_486, ISA_586, ISA_686 = (
    _LEVELS[n] for n in ("ISA_8086", "ISA_186", "ISA_286", "ISA_386", "ISA_486", "ISA_586", "ISA_686"))
ISA_NAMES = {ISA_8086: "8086", ISA_186: "80186", ISA_286: "80286", ISA_386: "80386",
             ISA_486: "80486", ISA_586: "Pentium", ISA_686: "Pentium Pro"}

# CR0 bits [SDM vol. 3 "Control Registers"].  The 80386 has PE MP EM TS ET PG; the
# Intel486 added NE, WP, AM, NW and CD ("Architecture Compatibility", CR0 flags).
CR0_PE, CR0_MP, CR0_EM, CR0_TS, CR0_ET, CR0_NE = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
CR0_WP, CR0_AM, CR0_NW, CR0_CD, CR0_PG = 1 << 16, 1 << 18, 1 << 29, 1 << 30, 1 << 31
CR0_BITS_386 = CR0_PG | CR0_ET | CR0_TS | CR0_EM | CR0_MP | CR0_PE
CR0_BITS_486 = CR0_BITS_386 | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD

# CR4 bits [SDM vol. 3 "Control Registers"]: VME PVI TSD DE PSE MCE came with the
# Pentium (VME/PVI also on the late Intel486 parts with CPUID), PAE PGE PCE with the P6.
CR4_VME, CR4_PVI, CR4_TSD, CR4_DE, CR4_PSE = 0x1, 0x2, 0x4, 0x8, 0x10
CR4_PAE, CR4_MCE, CR4_PGE, CR4_PCE = 0x20, 0x40, 0x80, 0x100


@dataclass(frozen=True)
class Model:
    name: str
    isa: int
    address_bits: int          # physical address bus width
    bus_bits: int              # data bus width (8088: 8)
    frequency: int             # default CPU clock in Hz
    fpu: bool = False          # an on-chip x87 (what CPUID.1:EDX.FPU reports)
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
    # A 32-bit POPA on a 16-bit stack loads the upper half of ESP from the upper half
    # of the eSP slot it otherwise skips (the 80386; test386.asm, checked on hardware).
    popa_loads_esp_high: bool = False
    # A SIB byte with no index (index field 4) and a non-zero scale applies the scale
    # to the base register (the 80386; undefined in the SDM, test386.asm on hardware).
    sib_scale_without_index: bool = False
    # POPF/IRET may change IOPL and NT in real mode (386+; the 286 keeps them 0).
    real_mode_iopl_nt: bool = False
    # Prefetch queue length in bytes (bus-exact timing, a later issue).
    queue_len: int = 6

    # ---- 486/Pentium/P6 facts.  The defaults describe the 8086-80386, so the older
    # models need not name them.
    # Front-side bus clock in Hz when the core runs at a multiple of it (IntelDX4: x3,
    # Pentium II: x4); 0 = the bus runs at `frequency`.
    bus_frequency: int = 0
    # EDX after RESET: the component identification ("processor signature") of
    # Table 9-1 / the 386 and 486 "processor state after reset" sections:
    # type[13:12] family[11:8] model[7:4] stepping[3:0].  0 = not documented.
    reset_edx: int = 0
    # CR0 after RESET (486+: CD=NW=1 and ET=1, i.e. 60000010h).
    reset_cr0: int = 0
    # CR0 bits that exist (MOV to CR0 keeps only these); 0 = no CR0/MSW.
    cr0_mask: int = 0
    # CR0 bits that read as 1 whatever is written (P6: ET is hard-wired to 1).
    cr0_fixed1: int = 0
    # CR4 bits that exist; 0 = no CR4 (MOV to/from CR4 raises #UD).  Setting a bit
    # outside the mask with MOV CR4 raises #GP(0) [SDM vol. 2 MOV CR].
    cr4_mask: int = 0
    # EFLAGS.AC (bit 18) can be set (486+).  EFLAGS.ID (bit 21) can be toggled: the
    # documented test for CPUID (AP-485), so it is true exactly when has_cpuid is.
    eflags_ac: bool = False
    eflags_id: bool = False
    # Instructions and facilities; each one that CPUID reports is named after its
    # CPUID.1:EDX bit, and tests/test_models.py checks the two agree.
    has_cpuid: bool = False    # 0F A2; without it the opcode raises #UD
    has_vme: bool = False      # CR4.VME/PVI, EFLAGS.VIF/VIP, the TSS redirection bitmap
    has_de: bool = False       # CR4.DE: I/O breakpoints, DR4/DR5 #UD
    has_pse: bool = False      # CR4.PSE: 4-MB pages
    has_tsc: bool = False      # RDTSC (0F 31), CR4.TSD
    has_msr: bool = False      # RDMSR/WRMSR (0F 32 / 0F 30); see core/cpuid.py msr_table
    has_pae: bool = False      # CR4.PAE: 36-bit physical addresses
    has_mce: bool = False      # CR4.MCE: machine-check exception (int 18)
    has_cx8: bool = False      # CMPXCHG8B (0F C7 /1)
    has_apic: bool = False     # on-chip local APIC (IA32_APIC_BASE MSR)
    has_sysenter: bool = False # SYSENTER/SYSEXIT (0F 34 / 0F 35) and their MSRs
    has_mtrr: bool = False     # memory-type range registers
    has_pge: bool = False      # CR4.PGE: global pages
    has_pat: bool = False      # page attribute table (without it the PAT bits are reserved)
    has_mca: bool = False      # machine-check architecture MSRs (MCG_CAP, MCi_*)
    has_cmov: bool = False     # CMOVcc (0F 40-4F), FCMOVcc/FCOMI when there is an FPU
    has_mmx: bool = False      # MMX instructions (need the FPU state)
    # RDPMC (0F 33): Pentium Pro and Pentium with MMX onwards [SDM vol. 3, "Reading
    # Performance-Monitoring and Time-Stamp Counters"]; elsewhere 0F 33 is #UD.  With
    # it: #GP(0) when CR4.PCE=0 and CPL>0, or when ECX is not a counter (P6: 0 or 1).
    has_rdpmc: bool = False
    # Any floating-point instruction raises #NM whatever CR0.EM says (Intel486 SX)
    # [SDM vol. 3, "x87 FPU Initialization"].
    fpu_insn_always_nm: bool = False


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
    # The MSW is CR0's low word; bits 4-15 read as 1 after reset [286PRM 10.1].
    "80286": Model("80286", ISA_286, 24, 16, 12_000_000, max_insn_len=10,
                   reset_cr0=0xFFF0, cr0_mask=0x000F),
    # DH=3 (80386), DL=revision: 03h as the CPU has always used [386PRM 10.1].  CR0
    # after reset: PE=MP=EM=TS=PG=0, and ET=0 because this model has no 80387: the 386
    # samples ERROR# after RESET and sets ET only for a 387 [SDM vol. 3, "Intel 387 and
    # Intel 287 Math Coprocessor Initialization"].
    "80386": Model("80386", ISA_386, 32, 32, 33_000_000, max_insn_len=15, lock_ud=True,
                   real_mode_iopl_nt=True, queue_len=16, popa_loads_esp_high=True,
                   sib_scale_without_index=True,
                   reset_edx=0x0303, reset_cr0=0, cr0_mask=CR0_BITS_386),

    # ---- Intel486.  "80486" is the IntelDX4 (family 4, model 8, A0 stepping: 0480h), a
    # late i486 with CPUID, the EFLAGS.ID flag and the virtual-8086 mode extensions (CR4
    # with VME and PVI), clocked at 3x a 33 MHz bus.  "80486sx" is an i486SX of the
    # first generation (family 4, model 2, stepping 2: 0422h): no FPU, no CPUID (0F A2
    # raises #UD, EFLAGS.ID does not toggle), no CR4.  Both: 32-byte prefetch queue,
    # 32-bit bus, AC flag and the CR0 bits NE/WP/AM/NW/CD, CR0=60000010h after reset.
    "80486": Model("80486", ISA_486, 32, 32, 100_000_000, fpu=True, max_insn_len=15,
                   lock_ud=True, real_mode_iopl_nt=True, queue_len=32,
                   bus_frequency=33_333_333, reset_edx=0x0480, reset_cr0=0x60000010,
                   cr0_mask=CR0_BITS_486, cr4_mask=CR4_VME | CR4_PVI,
                   eflags_ac=True, eflags_id=True, has_cpuid=True, has_vme=True),
    "80486sx": Model("80486sx", ISA_486, 32, 32, 25_000_000, max_insn_len=15,
                     lock_ud=True, real_mode_iopl_nt=True, queue_len=32,
                     reset_edx=0x0422, reset_cr0=0x60000010, cr0_mask=CR0_BITS_486,
                     eflags_ac=True, fpu_insn_always_nm=True),

    # ---- Pentium (P5, 60/66 MHz parts: family 5, model 1, D1 stepping 517h), 66 MHz
    # core and bus, 64-bit data bus, two 32-byte prefetch buffers (one active at a
    # time).  TSC, MSRs, CMPXCHG8B, 4-MB pages, VME, debug extensions, machine-check
    # exception; no APIC on this model.  ET reads as 1 (reserved in the Pentium).
    "pentium": Model("pentium", ISA_586, 32, 64, 66_666_667, fpu=True, max_insn_len=15,
                     lock_ud=True, real_mode_iopl_nt=True, queue_len=32,
                     reset_edx=0x0517, reset_cr0=0x60000010, cr0_mask=CR0_BITS_486,
                     cr0_fixed1=CR0_ET,
                     cr4_mask=CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_MCE,
                     eflags_ac=True, eflags_id=True, has_cpuid=True, has_vme=True,
                     has_de=True, has_pse=True, has_tsc=True, has_msr=True, has_mce=True,
                     has_cx8=True),

    # ---- Pentium II "Klamath" (P6 family 6, model 3, C1 stepping 634h), 266 MHz = 4 x
    # 66 MHz bus, 64-bit data bus, 36 address lines (PAE).  Everything of the Pentium
    # plus PAE, local APIC, SYSENTER, MTRRs, global pages, MCA, CMOV, MMX and RDPMC.
    # (No FXSR, PAT or PSE-36: those arrived with the later Deschutes core.)  The P6
    # instruction fetch unit reads 16 aligned bytes per clock: queue_len is that block.
    "pentium2": Model("pentium2", ISA_686, 36, 64, 266_666_667, fpu=True, max_insn_len=15,
                      lock_ud=True, real_mode_iopl_nt=True, queue_len=16,
                      bus_frequency=66_666_667, reset_edx=0x0634, reset_cr0=0x60000010,
                      cr0_mask=CR0_BITS_486, cr0_fixed1=CR0_ET,
                      cr4_mask=(CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE
                                | CR4_MCE | CR4_PGE | CR4_PCE),
                      eflags_ac=True, eflags_id=True, has_cpuid=True, has_vme=True,
                      has_de=True, has_pse=True, has_tsc=True, has_msr=True, has_pae=True,
                      has_mce=True, has_cx8=True, has_apic=True, has_sysenter=True,
                      has_mtrr=True, has_pge=True, has_mca=True, has_cmov=True,
                      has_mmx=True, has_rdpmc=True),
}
ALIASES = {"86": "8086", "88": "8088", "186": "80186", "286": "80286", "386": "80386",
           "i386": "80386", "i286": "80286", "486": "80486", "i486": "80486",
           "dx4": "80486", "486sx": "80486sx", "i486sx": "80486sx", "586": "pentium",
           "p5": "pentium", "p2": "pentium2", "pii": "pentium2", "klamath": "pentium2"}


def get_model(name):
    """Look a model up by name ('8086', '80286', '286', 'pentium', ...) or return a Model
    unchanged; raise ValueError naming the options."""
    if isinstance(name, Model):
        return name
    key = ALIASES.get(str(name).lower(), str(name).lower())
    try:
        return MODELS[key]
    except KeyError:
        raise ValueError("unknown CPU model %r (choose from %s)"
                         % (name, ", ".join(MODELS))) from None


def signature(model):
    """(family, model, stepping) of the reset EDX signature, or None when undocumented."""
    edx = get_model(model).reset_edx
    if not edx:
        return None
    return (edx >> 8) & 0xF, (edx >> 4) & 0xF, edx & 0xF


# ---- Coprocessors.  The 8086-80386 take the x87 as a separate chip in a socket beside
# them; the 486 (DX) and later have it on chip.  The socket decides which chips fit: the
# 8086/8088 drive the 8087 (which watches their bus and queue), the 80286 the 80287, the
# 80386 the 80287 or the 80387 [8087 data sheet; 80286 PRM ch. 11; 80386 PRM 11.1 "the
# 80386 works with either the 80287 or the 80387"].  The 80186 needs the 82188 bus
# controller for an 8087 and is left out.  Values are the core/fpu levels.
COPROCESSORS = {"8087": 1, "287": 2, "387": 3}
COPROCESSOR_SOCKETS = {"8086": ("8087",), "8088": ("8087",), "80286": ("287",),
                       "80386": ("287", "387")}
COPROCESSOR_ALIASES = {"80287": "287", "80387": "387", "i8087": "8087", "i287": "287",
                       "i387": "387", "no": "none", "off": "none"}


def coprocessor_name(fpu):
    """The canonical name of a coprocessor the user wrote ('80387' -> '387', 'off' ->
    'none'); ValueError naming the choices for anything else."""
    key = COPROCESSOR_ALIASES.get(str(fpu).lower(), str(fpu).lower())
    if key != "none" and key not in COPROCESSORS:
        raise ValueError("unknown coprocessor %r (choose from none, %s)"
                         % (fpu, ", ".join(COPROCESSORS)))
    return key


def coprocessor(model, fpu):
    """The coprocessor name for `fpu` ('8087', '287', '387', 'none' or None) beside
    `model`, or None for none; ValueError naming what fits when it does not."""
    m = get_model(model)
    if fpu is None:
        return None
    key = coprocessor_name(fpu)
    if key == "none":
        return None
    fits = COPROCESSOR_SOCKETS.get(m.name, ())
    if key not in fits:
        if m.fpu:
            raise ValueError("the %s has its x87 on chip; --fpu %s does not apply"
                             % (m.name, fpu))
        raise ValueError("the %s takes %s, not a %s"
                         % (m.name, " or ".join(fits) if fits else "no coprocessor", key))
    return key
