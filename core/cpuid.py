"""CPUID leaves and model-specific registers (MSRs) of each CPU model, as data.

The CPU (core/cpu.pyx) executes CPUID, RDTSC, RDMSR, WRMSR and RDPMC; this module says
what each model answers.  Nothing here has state: the CPU keeps the MSR values and the
time-stamp counter, and uses `write_value` for the WRMSR rule.

Sources:
  [AP485]  Intel, AP-485 "Intel Processor Identification and the CPUID Instruction".
  [SDM2]   Intel SDM vol. 2A, CPUID: feature flags (Table "Feature Information Returned
           in the EDX Register"), leaf 2 descriptors, the rule for leaves above the maximum.
  [SDM3]   Intel SDM vol. 3: "Time-Stamp Counter", "Performance Monitoring (P6 family)",
           "Machine-Check Architecture", "Memory Type Range Registers", Table 9-1
           (state after power-up/reset).
  [SDM4]   Intel SDM vol. 4 (formerly vol. 3C ch. 35): "MSRs in the P6 Family Processors",
           "MSRs in Pentium Processors".
  [PIIDM]  Intel, Pentium II Processor Developer's Manual / Intel Architecture SDM (1997),
           "Processor Identification and Feature Determination": the 233/266/300 MHz
           Pentium II processors report family 6, model 3.
See docs/models.md for the tables in prose.
"""
from dataclasses import dataclass

from core.models import get_model

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF


# =============================================================================== CPUID

def _dword(text):
    """Four ASCII characters as the little-endian register value CPUID returns them in."""
    return int.from_bytes(text.encode("ascii"), "little")


# Leaf 0 returns the vendor string in EBX, EDX, ECX (in that order): "Genu" "ineI" "ntel".
VENDOR = "GenuineIntel"
VENDOR_EBX, VENDOR_EDX, VENDOR_ECX = _dword("Genu"), _dword("ineI"), _dword("ntel")

# CPUID.1:EDX feature flags: (bit, name, what the flag promises) [SDM2, AP485].
FEATURES = (
    (0, "FPU", "x87 FPU on the chip (387 instruction set)"),
    (1, "VME", "virtual-8086 mode extensions: CR4.VME/PVI, EFLAGS.VIF/VIP, "
               "TSS interrupt-redirection bitmap"),
    (2, "DE", "debugging extensions: CR4.DE, I/O breakpoints, DR4/DR5 raise #UD"),
    (3, "PSE", "page-size extension: CR4.PSE, 4-MB pages"),
    (4, "TSC", "time-stamp counter: RDTSC and CR4.TSD"),
    (5, "MSR", "RDMSR and WRMSR"),
    (6, "PAE", "physical-address extension: CR4.PAE, 36-bit physical addresses"),
    (7, "MCE", "machine-check exception (int 18) and CR4.MCE"),
    (8, "CX8", "CMPXCHG8B"),
    (9, "APIC", "on-chip local APIC, enabled (clear when IA32_APIC_BASE.EN=0)"),
    (11, "SEP", "SYSENTER/SYSEXIT and the SYSENTER_CS/ESP/EIP MSRs"),
    (12, "MTRR", "memory-type range registers (MTRRcap, MTRRdefType, ...)"),
    (13, "PGE", "global pages: CR4.PGE"),
    (14, "MCA", "machine-check architecture: MCG_CAP and the MCi_* banks"),
    (15, "CMOV", "CMOVcc, and FCMOVcc/FCOMI when FPU is also set"),
    (16, "PAT", "page attribute table"),
    (17, "PSE36", "36-bit page-size extension"),
    (23, "MMX", "MMX instructions"),
    (24, "FXSR", "FXSAVE/FXRSTOR and CR4.OSFXSR"),
)
FEATURE_BIT = {name: bit for bit, name, _ in FEATURES}


def feature_edx(*names):
    """The CPUID.1:EDX value with the named feature flags set."""
    value = 0
    for name in names:
        value |= 1 << FEATURE_BIT[name]
    return value


# Cache/TLB descriptor bytes that CPUID leaf 2 reports on the Pentium II [SDM2, leaf 2
# descriptor table; AP485].  The low byte of EAX (01h) is not a descriptor: it is the
# number of times leaf 2 must be executed to read them all.
CACHE_DESCRIPTORS = {
    0x01: "instruction TLB: 4-KB pages, 4-way, 32 entries",
    0x02: "instruction TLB: 4-MB pages, fully associative, 2 entries",
    0x03: "data TLB: 4-KB pages, 4-way, 64 entries",
    0x04: "data TLB: 4-MB pages, 4-way, 8 entries",
    0x08: "L1 instruction cache: 16 KB, 4-way, 32-byte lines",
    0x0C: "L1 data cache: 16 KB, 4-way, 32-byte lines",
    0x43: "L2 unified cache: 512 KB, 4-way, 32-byte lines",
}

_LEAF0 = (VENDOR_EBX, VENDOR_ECX, VENDOR_EDX)

# Per model: leaf -> (EAX, EBX, ECX, EDX).  Leaf 0 EAX is the highest basic leaf.
# Leaf 1 EAX is the processor signature (the same value as EDX after RESET), EBX and
# ECX are reserved (0) on these processors, EDX holds the feature flags.
_LEAVES = {
    # IntelDX4, family 4 model 8 stepping 0.  It reports the on-chip FPU and the
    # virtual-8086 mode extensions that the late Intel486 parts took from the Pentium.
    "80486": {
        0: (1,) + _LEAF0,
        1: (0x00000480, 0, 0, feature_edx("FPU", "VME")),
    },
    # Pentium (P5) 60/66 MHz, family 5 model 1 stepping 7 (D1).  No APIC on this model
    # (the on-chip APIC came with the P54C, model 2).  EDX = 000001BFh.
    "pentium": {
        0: (1,) + _LEAF0,
        1: (0x00000517, 0, 0, feature_edx("FPU", "VME", "DE", "PSE", "TSC", "MSR",
                                          "MCE", "CX8")),
    },
    # Pentium II (Klamath), family 6 model 3 stepping 4 (C1) [PIIDM].  EDX = 0080FBFFh:
    # everything the P6 has plus MMX; no PAT, PSE-36 or FXSR (Deschutes, model 5, added
    # those).  SEP is genuine here: AP-485 tells software to ignore it only on family 6
    # with model < 3 and stepping < 3 (the Pentium Pro).
    "pentium2": {
        0: (2,) + _LEAF0,
        1: (0x00000634, 0, 0, feature_edx("FPU", "VME", "DE", "PSE", "TSC", "MSR", "PAE",
                                          "MCE", "CX8", "APIC", "SEP", "MTRR", "PGE",
                                          "MCA", "CMOV", "MMX")),
        # AL=01h, then descriptors 01h 02h 03h (the TLBs); EDX: 43h (512-KB L2),
        # 08h (16-KB L1 I), 04h (4-MB-page DTLB), 0Ch (16-KB L1 D).  EBX=ECX=0: no
        # descriptors (bit 31 clear: valid, all null).
        2: (0x03020101, 0, 0, 0x0C040843),
    },
}


class CpuidUnsupported(ValueError):
    """The model has no CPUID instruction: the guest's 0F A2 raises #UD instead."""


def _leaf_table(model):
    m = get_model(model)
    table = _LEAVES.get(m.name)
    if table is None:
        raise CpuidUnsupported("CPU model %r has no CPUID instruction "
                               "(0F A2 raises #UD there)" % m.name)
    return table


def leaves(model):
    """The basic CPUID leaves of a model: {leaf: (eax, ebx, ecx, edx)}.

    Raises CpuidUnsupported for a model without CPUID and ValueError for an unknown name.
    """
    return dict(_leaf_table(model))


def max_leaf(model):
    """The highest basic leaf (CPUID.0:EAX)."""
    return _leaf_table(model)[0][0]


def cpuid(model, eax, ecx=0, apic_enabled=True):
    """What CPUID returns for EAX (and ECX) on the model: (eax, ebx, ecx, edx).

    A leaf above the maximum, including the 80000000h range that none of these models
    implements, returns the data of the highest basic leaf [SDM2].  ECX selects nothing
    on these models and is ignored.  `apic_enabled` is IA32_APIC_BASE.EN: with the local
    APIC disabled the P6 reports CPUID.1:EDX.APIC = 0 [SDM3 "Local APIC Status and
    Location"].  Also, on a model with BIOS_SIGN_ID (pentium2) every CPUID writes the
    loaded microcode update revision into MSR 8Bh bits 63:32; no update is ever loaded
    here, so the CPU stores 0 there (see MSR_BIOS_SIGN_ID).
    """
    table = _leaf_table(model)
    eax &= MASK32
    top = table[0][0]
    leaf = eax if eax <= top else top
    a, b, c, d = table[leaf]
    if leaf == 1 and not apic_enabled:
        d &= ~(1 << FEATURE_BIT["APIC"])
    return a, b, c, d


def features(model):
    """The names of the CPUID.1:EDX flags the model reports, in bit order."""
    edx = _leaf_table(model)[1][3]
    return tuple(name for bit, name, _ in FEATURES if edx >> bit & 1)


# =============================================================================== MSRs

# MSR numbers (ECX of RDMSR/WRMSR) used by the CPU and by the tables below.
MSR_P5_MC_ADDR = 0x00
MSR_P5_MC_TYPE = 0x01
MSR_TSC = 0x10
MSR_P5_CESR = 0x11            # Pentium: control and event select for CTR0/CTR1
MSR_P5_CTR0 = 0x12
MSR_P5_CTR1 = 0x13
MSR_PLATFORM_ID = 0x17
MSR_APIC_BASE = 0x1B
MSR_EBL_CR_POWERON = 0x2A
MSR_BIOS_UPDT_TRIG = 0x79
MSR_BIOS_SIGN_ID = 0x8B
MSR_PERFCTR0 = 0xC1
MSR_PERFCTR1 = 0xC2
MSR_MTRRCAP = 0xFE
MSR_SYSENTER_CS = 0x174
MSR_SYSENTER_ESP = 0x175
MSR_SYSENTER_EIP = 0x176
MSR_MCG_CAP = 0x179
MSR_MCG_STATUS = 0x17A
MSR_MCG_CTL = 0x17B
MSR_PERFEVTSEL0 = 0x186
MSR_PERFEVTSEL1 = 0x187
MSR_DEBUGCTL = 0x1D9
MSR_MTRR_DEF_TYPE = 0x2FF

APIC_BASE_BSP = 1 << 8        # this processor is the bootstrap processor (read-only)
APIC_BASE_EN = 1 << 11        # APIC global enable; once cleared it stays clear until RESET
APIC_DEFAULT_BASE = 0xFEE00000


@dataclass(frozen=True)
class Msr:
    """One model-specific register: its value after RESET and how WRMSR treats it.

    The value is up to 64 bits wide (RDMSR returns it in EDX:EAX).  WRMSR, given
    EDX:EAX = value, does (see write_value):
      readonly            -> #GP(0), nothing changes.
      value & gp_mask     -> #GP(0): a reserved bit written as 1 (the SDM's WRMSR rule).
      low32_only          -> only EAX is used (P6 TSC and counters); with sign_extend,
                             bit 31 is copied into the writable bits above it.
      otherwise           -> new = (old & ~writable_mask) | (value & writable_mask):
                             bits outside writable_mask (read-only fields, hard-wired
                             bits) keep their value and the written ones are dropped.
      clear_sticky        -> of these bits, one that is 0 stays 0 until RESET.
    RDMSR returns the stored value; the TSC is the exception (see tsc_read).
    """
    name: str
    reset: int
    writable_mask: int
    readonly: bool = False
    gp_mask: int = 0
    low32_only: bool = False
    sign_extend: bool = False
    clear_sticky: int = 0


class MsrFault(Exception):
    """RDMSR/WRMSR that the CPU must turn into #GP(0) in the guest."""


def write_value(msr, old, value):
    """The MSR's value after WRMSR of `value` (EDX:EAX) over `old`; MsrFault for #GP(0)."""
    value &= MASK64
    if msr.readonly:
        raise MsrFault("%s is read-only" % msr.name)
    if value & msr.gp_mask:
        raise MsrFault("%s: reserved bits %#x set" % (msr.name, value & msr.gp_mask))
    if msr.low32_only:
        value &= MASK32
        if msr.sign_extend and value & 0x80000000:
            value |= MASK64 ^ MASK32
    new = (old & ~msr.writable_mask | value & msr.writable_mask) & MASK64
    if msr.clear_sticky:
        new &= ~(msr.clear_sticky & ~old)
    return new


def _rw(name, bits=MASK64, reset=0, **kw):
    """A read/write register whose defined bits are `bits`; writing any other bit is #GP."""
    return Msr(name, reset, bits, gp_mask=MASK64 & ~bits, **kw)


def _data(name, bits=MASK64, reset=0):
    """A read/write data register whose undefined upper bits are silently dropped."""
    return Msr(name, reset, bits)


def _ro(name, value=0):
    return Msr(name, value, 0, readonly=True)


# ---- Pentium (P5) [SDM4 "MSRs in Pentium Processors"].  The test registers TR1-TR12
# (02h, 04h-0Eh) are not provided: they reach cache and TLB test hardware that is not
# modelled, so RDMSR/WRMSR of them raise #GP(0).
_MSRS_PENTIUM = {
    # Physical address and cycle type of the bus cycle that caused a machine check.
    # Only reads are defined; RDMSR of P5_MC_TYPE clears its CHK bit (bit 0) on the
    # chip, which only matters once machine checks are signalled.
    MSR_P5_MC_ADDR: _ro("P5_MC_ADDR"),
    MSR_P5_MC_TYPE: _ro("P5_MC_TYPE"),
    # 64-bit time-stamp counter, 0 after RESET, counts core clocks; all 64 bits writable.
    MSR_TSC: _data("TSC"),
    # CESR: ES0 (5:0) CC0 (8:6) PC0 (9) for CTR0, ES1 (21:16) CC1 (24:22) PC1 (25).
    MSR_P5_CESR: _rw("CESR", 0x03FF03FF),
    # 40-bit event counters.  Event counting is not modelled: they hold what was written.
    MSR_P5_CTR0: _rw("CTR0", (1 << 40) - 1),
    MSR_P5_CTR1: _rw("CTR1", (1 << 40) - 1),
}


def _p6_msrs():
    """The Pentium II (Klamath) MSRs [SDM4 "MSRs in the P6 Family Processors"]."""
    t = {
        # Pentium-compatible machine-check registers, kept for compatibility.
        MSR_P5_MC_ADDR: _ro("P5_MC_ADDR"),
        MSR_P5_MC_TYPE: _ro("P5_MC_TYPE"),
        # P6: WRMSR writes only the low 32 bits and clears the high 32 (all 64 bits
        # became writable with family 0Fh model 3) [SDM4, the TSC rows].
        MSR_TSC: Msr("TSC", 0, MASK64, low32_only=True),
        # Platform ID (bits 52:50) and bus facts for microcode loaders; read-only.  It
        # reads 0 here: the Klamath value is not in the sources used.
        MSR_PLATFORM_ID: _ro("PLATFORM_ID", 0),
        # Local APIC at FEE00000h, enabled, this CPU the BSP: FEE00900h.  Base 31:12 and
        # EN are writable; BSP is read-only; 63:32, 10:9 and 7:0 are reserved.  Clearing
        # EN disables the APIC until RESET and hides CPUID.1:EDX.APIC.
        MSR_APIC_BASE: Msr("APIC_BASE", APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP,
                           0xFFFFF800, gp_mask=0xFFFFFFFF000006FF,
                           clear_sticky=APIC_BASE_EN),
        # Hard power-on configuration, latched from pins at RESET.  R/W: bits 1-4 (error
        # checking and AERR#/BERR# drive), 6-7 (BERR#/BINIT# drive), 26 (low-power mode);
        # the rest reads the straps.  Reset value 0: bus 66 MHz (19:18 = 00), APIC
        # cluster 0, agent 0, 4-GB reset vector, BIST not run, errors checking off.
        # The clock-ratio field (25:22, 27) is 0 here: its strap encoding is not in the
        # sources used (docs/models.md, "Known gaps").
        MSR_EBL_CR_POWERON: Msr("EBL_CR_POWERON", 0, 0x040000DE,
                                gp_mask=MASK64 & ~0x0FFFF7DE),
        # Microcode update trigger: a write loads an update from the linear address in
        # EDX:EAX.  No update is ever loaded here, so a write is accepted and ignored.
        MSR_BIOS_UPDT_TRIG: Msr("BIOS_UPDT_TRIG", 0, 0),
        # Update signature: software writes 0, executes CPUID(1), reads bits 63:32.  The
        # CPU stores 0 there on every CPUID (no update loaded).
        MSR_BIOS_SIGN_ID: _data("BIOS_SIGN_ID"),
        # 40-bit performance counters.  WRMSR writes bits 31:0 and sign-extends bit 31
        # into 39:32 [SDM3 "PerfCtr0 and PerfCtr1 MSRs"].  Counting is not modelled.
        MSR_PERFCTR0: Msr("PERFCTR0", 0, (1 << 40) - 1, low32_only=True, sign_extend=True),
        MSR_PERFCTR1: Msr("PERFCTR1", 0, (1 << 40) - 1, low32_only=True, sign_extend=True),
        # MTRR capabilities: VCNT=8 variable ranges (7:0), FIX=1 fixed ranges (8),
        # WC=1 write-combining type (10): 508h.  Read-only.
        MSR_MTRRCAP: _ro("MTRRcap", 0x508),
        # SYSENTER target CS, ESP, EIP (32-bit on the P6; EDX is dropped).
        MSR_SYSENTER_CS: _data("SYSENTER_CS", MASK32),
        MSR_SYSENTER_ESP: _data("SYSENTER_ESP", MASK32),
        MSR_SYSENTER_EIP: _data("SYSENTER_EIP", MASK32),
        # Machine-check globals: 5 banks (7:0) and MCG_CTL present (8): 105h.
        MSR_MCG_CAP: _ro("MCG_CAP", 0x105),
        MSR_MCG_STATUS: _rw("MCG_STATUS", 0x7),           # RIPV EIPV MCIP
        MSR_MCG_CTL: _data("MCG_CTL"),
        # Event selects: event 7:0, unit mask 15:8, USR OS E PC INT (16-20), EN (22,
        # PerfEvtSel0 only), INV (23), CMASK 31:24.  Bit 21 (and 22 in PerfEvtSel1)
        # is not defined: written bits there are dropped.  63:32 reserved.
        MSR_PERFEVTSEL0: Msr("PERFEVTSEL0", 0, 0xFFDFFFFF, gp_mask=MASK64 ^ MASK32),
        MSR_PERFEVTSEL1: Msr("PERFEVTSEL1", 0, 0xFF9FFFFF, gp_mask=MASK64 ^ MASK32),
        # LBR (0), BTF (1), PB0-PB3 (2-5), TR (6); 31:7 reserved.
        MSR_DEBUGCTL: _rw("DEBUGCTLMSR", 0x7F),
        # Last branch / last exception records: read-only, 0 until recording is modelled.
        0x1DB: _ro("LASTBRANCHFROMIP"),
        0x1DC: _ro("LASTBRANCHTOIP"),
        0x1DD: _ro("LASTINTFROMIP"),
        0x1DE: _ro("LASTINTTOIP"),
        # Default memory type: type (7:0), FE fixed-range enable (10), E enable (11).
        # Cleared by RESET (all MTRRs disabled) [SDM3 Table 9-1].
        MSR_MTRR_DEF_TYPE: _rw("MTRRdefType", 0xCFF),
    }
    # Variable-range MTRRs 0-7: PhysBase = base 35:12 | type 7:0; PhysMask = mask 35:12 |
    # valid 11.  Values after RESET are undefined [SDM3 Table 9-1]; 0 here.
    for i in range(8):
        t[0x200 + 2 * i] = _rw("MTRRphysBase%d" % i, 0xFFFFFF0FF)
        t[0x201 + 2 * i] = _rw("MTRRphysMask%d" % i, 0xFFFFFF800)
    # Fixed-range MTRRs: eight one-byte memory types each.
    fixed = {0x250: "MTRRfix64K_00000", 0x258: "MTRRfix16K_80000",
             0x259: "MTRRfix16K_A0000"}
    for i in range(8):
        fixed[0x268 + i] = "MTRRfix4K_%05X" % (0xC0000 + 0x8000 * i)
    for n, name in fixed.items():
        t[n] = _data(name)
    # Machine-check banks.  The P6 numbers them out of order: the registers at 40Ch are
    # bank 4 and those at 410h bank 3.  No bank implements MCi_MISC, and bank 4 has no
    # MCi_ADDR: those addresses raise #GP(0) [SDM4].  MCi_STATUS can only be written
    # with zeros (writing a 1 is #GP(0)) and has hard-wired 1s: EN (60) in bank 0 and
    # bits 0, 4, 57, 61 in bank 4.  P6 MCi_CTL accepts all 0s or all 1s (other values
    # are undefined; stored as written here).
    hardwired = {0: 1 << 60, 4: (1 << 0) | (1 << 4) | (1 << 57) | (1 << 61)}
    for base, bank in ((0x400, 0), (0x404, 1), (0x408, 2), (0x40C, 4), (0x410, 3)):
        t[base] = _data("MC%d_CTL" % bank)
        fixed1 = hardwired.get(bank, 0)
        t[base + 1] = Msr("MC%d_STATUS" % bank, fixed1, MASK64 & ~fixed1, gp_mask=MASK64)
        if bank != 4:
            t[base + 2] = _data("MC%d_ADDR" % bank)
    return t


def msr_table(model):
    """{MSR number: Msr} of the model.  An MSR not in the table raises #GP(0) in the guest.

    Models without RDMSR/WRMSR (has_msr False: everything before the Pentium) return
    an empty table; there the instructions themselves are #UD.
    """
    m = get_model(model)
    if not m.has_msr:
        return {}
    if m.name == "pentium":
        return dict(_MSRS_PENTIUM)
    if m.name == "pentium2":
        return _p6_msrs()
    raise ValueError("no MSR table for CPU model %r" % m.name)


def msr_reset_values(model):
    """{MSR number: value after RESET}: what the CPU loads into its MSR store at reset."""
    return {n: msr.reset for n, msr in msr_table(model).items()}


# ---- The time-stamp counter.  The TSC counts core clocks from 0 at RESET [SDM3
# "Time-Stamp Counter"]; the global clock's `now` counts CPU cycles since power-on.  The
# CPU keeps one 64-bit offset, tsc_base, instead of a counter:
#   at RESET:       tsc_base = clock.now
#   RDTSC / RDMSR:  TSC = (clock.now - tsc_base) mod 2**64
#   WRMSR(10h, v):  new = write_value(msr_table(model)[MSR_TSC], TSC, v)
#                   tsc_base = (clock.now - new) mod 2**64
# with clock.now read at the same point of every instruction (before its own cycles
# are added), so RDTSC twice in a row differs by the first RDTSC's cycle count.

def tsc_read(now, tsc_base):
    """The TSC value at clock cycle `now` given the CPU's tsc_base."""
    return (now - tsc_base) & MASK64


def tsc_base_after_write(model, now, tsc_base, value):
    """The new tsc_base after WRMSR(TSC, value) at cycle `now` (applies the model's rule)."""
    msr = msr_table(model)[MSR_TSC]
    new = write_value(msr, tsc_read(now, tsc_base), value)
    return (now - new) & MASK64


# ---- RDPMC.  Pentium Pro and Pentium MMX onward; on the P5 Pentium (and earlier)
# 0F 33 is an invalid opcode (#UD), and its counters CTR0/CTR1 are read with RDMSR at
# CPL 0 only [SDM3 "Reading Performance-Monitoring and Time-Stamp Counters"].
# With RDPMC (model.has_rdpmc):
#   #GP(0) if CR4.PCE = 0 and CPL > 0 (protected mode above ring 0, or virtual-8086
#          mode); in real mode CPL is 0 and RDPMC always works;
#   #GP(0) if ECX is not a counter index (P6: ECX must be 0 or 1);
#   else   EDX:EAX = the 40-bit counter: EAX = bits 31:0, EDX = bits 39:32 (EDX 31:8 = 0).

def rdpmc_counters(model):
    """{ECX: MSR number} of the counters RDPMC reads; empty for models without RDPMC."""
    return {0: MSR_PERFCTR0, 1: MSR_PERFCTR1} if get_model(model).has_rdpmc else {}
