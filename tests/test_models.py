"""Tests of core.models and core.cpuid: the CPU models, their CPUID leaves and MSR tables
are well-formed, match the documented signatures and agree with each other."""
import dataclasses

import pytest

from core import cpuid as C
from core.models import (ALIASES, CR0_BITS_386, CR0_BITS_486, ISA_386, ISA_486, ISA_586,
                         ISA_686, MODELS, Model, get_model, signature)

NEW_MODELS = ("80486", "80486sx", "pentium", "pentium2")
CPUID_MODELS = ("80486", "pentium", "pentium2")
MSR_MODELS = ("pentium", "pentium2")

# The five models as they were before the 486/Pentium/P6 fields existed: every field the
# old dataclass had, with its old value.  A change here changes how the CPU behaves.
OLD_FIELDS = {
    "8088": dict(isa=0, address_bits=20, bus_bits=8, frequency=4_772_727, fpu=False,
                 push_sp_new=True, shift_count_mask=0xFF, div_error_returns_next=True,
                 rep_negates_muldiv=True, idiv_min_quotient_faults=True,
                 flags_high_ones=True, word_wraps_in_segment=True, max_insn_len=0,
                 has_ud=False, esc_traps=False, lock_ud=False, real_mode_iopl_nt=False,
                 queue_len=4),
    "8086": dict(isa=0, address_bits=20, bus_bits=16, frequency=4_772_727, fpu=False,
                 push_sp_new=True, shift_count_mask=0xFF, div_error_returns_next=True,
                 rep_negates_muldiv=True, idiv_min_quotient_faults=True,
                 flags_high_ones=True, word_wraps_in_segment=True, max_insn_len=0,
                 has_ud=False, esc_traps=False, lock_ud=False, real_mode_iopl_nt=False,
                 queue_len=6),
    "80186": dict(isa=1, address_bits=20, bus_bits=16, frequency=8_000_000, fpu=False,
                  push_sp_new=True, shift_count_mask=0x1F, div_error_returns_next=False,
                  rep_negates_muldiv=False, idiv_min_quotient_faults=False,
                  flags_high_ones=True, word_wraps_in_segment=True, max_insn_len=0,
                  has_ud=True, esc_traps=True, lock_ud=False, real_mode_iopl_nt=False,
                  queue_len=6),
    "80286": dict(isa=2, address_bits=24, bus_bits=16, frequency=12_000_000, fpu=False,
                  push_sp_new=False, shift_count_mask=0x1F, div_error_returns_next=False,
                  rep_negates_muldiv=False, idiv_min_quotient_faults=False,
                  flags_high_ones=False, word_wraps_in_segment=False, max_insn_len=10,
                  has_ud=True, esc_traps=True, lock_ud=False, real_mode_iopl_nt=False,
                  queue_len=6),
    "80386": dict(isa=3, address_bits=32, bus_bits=32, frequency=33_000_000, fpu=False,
                  push_sp_new=False, shift_count_mask=0x1F, div_error_returns_next=False,
                  rep_negates_muldiv=False, idiv_min_quotient_faults=False,
                  flags_high_ones=False, word_wraps_in_segment=False, max_insn_len=15,
                  has_ud=True, esc_traps=True, lock_ud=True, real_mode_iopl_nt=True,
                  queue_len=16),
}

# Processor signatures: (family, model, stepping) [AP-485; PII developer's manual].
SIGNATURES = {
    "80386": (3, 0, 3),
    "80486": (4, 8, 0),        # IntelDX4
    "80486sx": (4, 2, 2),      # i486SX
    "pentium": (5, 1, 7),      # P5 60/66, D1 stepping
    "pentium2": (6, 3, 4),     # Klamath, C1 stepping
}

# Model field <-> CPUID.1:EDX flag.
FIELD_FLAG = {"fpu": "FPU", "has_vme": "VME", "has_de": "DE", "has_pse": "PSE",
              "has_tsc": "TSC", "has_msr": "MSR", "has_pae": "PAE", "has_mce": "MCE",
              "has_cx8": "CX8", "has_apic": "APIC", "has_sysenter": "SEP",
              "has_mtrr": "MTRR", "has_pge": "PGE", "has_mca": "MCA",
              "has_cmov": "CMOV", "has_mmx": "MMX", "has_pat": "PAT"}


# ------------------------------------------------------------------------- models

@pytest.mark.parametrize("name", list(OLD_FIELDS))
def test_existing_models_unchanged(name):
    m = MODELS[name]
    for field, value in OLD_FIELDS[name].items():
        assert getattr(m, field) == value, (name, field)


@pytest.mark.parametrize("name", list(OLD_FIELDS))
def test_existing_models_have_no_new_facilities(name):
    m = MODELS[name]
    for f in dataclasses.fields(Model):
        if f.name.startswith("has_") and f.name != "has_ud":
            assert getattr(m, f.name) is False, (name, f.name)
    assert not (m.eflags_id or m.eflags_ac or m.cr4_mask or m.cr0_fixed1 or m.bus_frequency)


def test_reset_values_of_the_older_models_match_the_cpu():
    """reset_edx/reset_cr0 of the 286 and 386 are the values core/cpu.pyx loads today."""
    cpu_mod = pytest.importorskip("core.cpu")
    for name in ("8086", "8088", "80186", "80286", "80386"):
        cpu = cpu_mod.CPU(name)
        m = MODELS[name]
        assert cpu.get("cr0") == m.reset_cr0, name
        assert cpu.get("edx") == m.reset_edx, name


def test_model_names_and_aliases():
    assert get_model("486").name == "80486"
    assert get_model("i486sx").name == "80486sx"
    assert get_model("Pentium").name == "pentium"
    assert get_model("p2").name == "pentium2"
    assert get_model(MODELS["pentium"]) is MODELS["pentium"]
    for alias, target in ALIASES.items():
        assert target in MODELS, alias
    for name, m in MODELS.items():
        assert m.name == name


@pytest.mark.parametrize("bad", ["80586", "pentium3", "", "x"])
def test_unknown_model_errors(bad):
    with pytest.raises(ValueError, match="unknown CPU model"):
        get_model(bad)
    with pytest.raises(ValueError, match="unknown CPU model"):
        C.leaves(bad)
    with pytest.raises(ValueError, match="unknown CPU model"):
        C.msr_table(bad)


@pytest.mark.parametrize("name", NEW_MODELS)
def test_new_models_common_facts(name):
    m = MODELS[name]
    assert m.max_insn_len == 15 and m.lock_ud and m.real_mode_iopl_nt
    assert m.reset_cr0 == 0x60000010          # CD, NW, ET [SDM vol. 3 Table 9-1]
    assert m.cr0_mask == CR0_BITS_486
    assert m.reset_cr0 & ~m.cr0_mask == 0 and m.cr0_fixed1 & ~m.cr0_mask == 0
    assert m.eflags_ac                         # 486+: AC is settable
    assert m.eflags_id == m.has_cpuid          # AP-485: ID toggles iff CPUID exists
    assert m.shift_count_mask == 0x1F and m.has_ud and m.esc_traps


def test_bus_and_isa_facts():
    assert (MODELS["80486"].isa, MODELS["80486sx"].isa) == (ISA_486, ISA_486)
    assert MODELS["pentium"].isa == ISA_586 and MODELS["pentium2"].isa == ISA_686
    assert MODELS["80386"].isa == ISA_386
    assert MODELS["80486"].bus_bits == 32 and MODELS["80486"].address_bits == 32
    assert MODELS["pentium"].bus_bits == 64 and MODELS["pentium"].address_bits == 32
    assert MODELS["pentium2"].bus_bits == 64 and MODELS["pentium2"].address_bits == 36
    # Core clock = bus clock x the multiplier: DX4 x3, Pentium II x4, P5 x1.
    assert round(MODELS["80486"].frequency / MODELS["80486"].bus_frequency) == 3
    assert round(MODELS["pentium2"].frequency / MODELS["pentium2"].bus_frequency) == 4
    assert MODELS["pentium"].bus_frequency == 0


def test_486sx_has_no_fpu_and_no_cpuid():
    sx = MODELS["80486sx"]
    assert not sx.fpu and sx.fpu_insn_always_nm
    assert not sx.has_cpuid and not sx.eflags_id and sx.cr4_mask == 0
    assert MODELS["80486"].fpu and not MODELS["80486"].fpu_insn_always_nm


@pytest.mark.parametrize("name", SIGNATURES)
def test_reset_edx_is_the_documented_signature(name):
    assert signature(name) == SIGNATURES[name]
    assert MODELS[name].reset_edx >> 12 == 0          # processor type 00: original OEM


def test_cr4_masks_follow_the_features():
    for name, m in MODELS.items():
        cr4 = m.cr4_mask
        assert bool(cr4 & 0x3) == m.has_vme, name                 # VME, PVI
        assert bool(cr4 & 0x4) == m.has_tsc, name                 # TSD
        assert bool(cr4 & 0x8) == m.has_de, name
        assert bool(cr4 & 0x10) == m.has_pse, name
        assert bool(cr4 & 0x20) == m.has_pae, name
        assert bool(cr4 & 0x40) == m.has_mce, name
        assert bool(cr4 & 0x80) == m.has_pge, name
        assert bool(cr4 & 0x100) == m.has_rdpmc, name             # PCE
        assert cr4 & ~0x1FF == 0, name
    assert MODELS["80386"].cr0_mask == CR0_BITS_386


# ------------------------------------------------------------------------- CPUID

@pytest.mark.parametrize("name", CPUID_MODELS)
def test_leaf_tables_are_well_formed(name):
    table = C.leaves(name)
    top = table[0][0]
    assert sorted(table) == list(range(top + 1))
    for leaf, regs in table.items():
        assert len(regs) == 4, leaf
        assert all(isinstance(r, int) and 0 <= r <= 0xFFFFFFFF for r in regs), leaf
    vendor = b"".join(r.to_bytes(4, "little") for r in (table[0][1], table[0][3], table[0][2]))
    assert vendor == b"GenuineIntel"
    assert table[1][1] == table[1][2] == 0                # reserved on these models


@pytest.mark.parametrize("name", CPUID_MODELS)
def test_leaf1_signature_is_reset_edx(name):
    assert C.leaves(name)[1][0] == MODELS[name].reset_edx


@pytest.mark.parametrize("name", NEW_MODELS + tuple(OLD_FIELDS))
def test_features_agree_with_model_fields(name):
    m = MODELS[name]
    if not m.has_cpuid:
        with pytest.raises(C.CpuidUnsupported):
            C.leaves(name)
        return
    edx = C.leaves(name)[1][3]
    for field, flag in FIELD_FLAG.items():
        assert bool(edx >> C.FEATURE_BIT[flag] & 1) == getattr(m, field), (name, field)
    known = sum(1 << bit for bit, _, _ in C.FEATURES)
    assert edx & ~known == 0


def test_documented_feature_words():
    assert C.leaves("80486")[1][3] == 0x00000003          # FPU VME
    assert C.leaves("pentium")[1][3] == 0x000001BF
    assert C.leaves("pentium2")[1][3] == 0x0080FBFF
    assert C.features("pentium") == ("FPU", "VME", "DE", "PSE", "TSC", "MSR", "MCE", "CX8")
    assert "PAT" not in C.features("pentium2") and "FXSR" not in C.features("pentium2")


def test_pentium2_cache_descriptors():
    a, b, c, d = C.leaves("pentium2")[2]
    assert a & 0xFF == 1                                  # leaf 2 needs one call
    descriptors = [(r >> s) & 0xFF for r in (a, b, c, d) for s in (0, 8, 16, 24)][1:]
    assert all(r >> 31 == 0 for r in (a, b, c, d))         # all registers valid
    assert sorted(x for x in descriptors if x) == sorted(C.CACHE_DESCRIPTORS)


def test_max_leaves():
    assert C.max_leaf("80486") == 1 and C.max_leaf("pentium") == 1
    assert C.max_leaf("pentium2") == 2


@pytest.mark.parametrize("name", CPUID_MODELS)
@pytest.mark.parametrize("eax", [3, 4, 0x7FFFFFFF, 0x80000000, 0x80000004, 0xFFFFFFFF])
def test_leaves_above_the_maximum_return_the_highest_basic_leaf(name, eax):
    table = C.leaves(name)
    assert C.cpuid(name, eax) == table[C.max_leaf(name)]
    assert C.cpuid(name, eax, ecx=5) == table[C.max_leaf(name)]


def test_cpuid_in_range_and_masking():
    assert C.cpuid("pentium", 0) == C.leaves("pentium")[0]
    assert C.cpuid("pentium2", 1) == C.leaves("pentium2")[1]
    assert C.cpuid("pentium2", 1 + (1 << 32)) == C.leaves("pentium2")[1]   # EAX is 32 bits


def test_apic_disabled_hides_the_apic_flag():
    edx = C.cpuid("pentium2", 1, apic_enabled=False)[3]
    assert edx == 0x0080FBFF & ~(1 << 9)
    assert C.cpuid("pentium", 1, apic_enabled=False) == C.cpuid("pentium", 1)


@pytest.mark.parametrize("name", ["8088", "8086", "80186", "80286", "80386", "80486sx"])
def test_models_without_cpuid_raise_a_clear_error(name):
    with pytest.raises(C.CpuidUnsupported, match="no CPUID instruction"):
        C.cpuid(name, 0)
    with pytest.raises(ValueError):                       # CpuidUnsupported is a ValueError
        C.leaves(name)


def test_feature_list_is_consistent():
    bits = [bit for bit, _, _ in C.FEATURES]
    names = [name for _, name, _ in C.FEATURES]
    assert len(set(bits)) == len(bits) and len(set(names)) == len(names)
    assert all(0 <= b < 32 and doc for b, _, doc in C.FEATURES)
    assert C.feature_edx("FPU", "CX8") == 0x101


# ------------------------------------------------------------------------- MSRs

@pytest.mark.parametrize("name", MSR_MODELS)
def test_msr_tables_are_well_formed(name):
    table = C.msr_table(name)
    assert table
    for number, msr in table.items():
        assert 0 <= number <= 0xFFFFFFFF
        assert isinstance(msr, C.Msr) and msr.name
        for v in (msr.reset, msr.writable_mask, msr.gp_mask, msr.clear_sticky):
            assert 0 <= v <= C.MASK64, (name, msr.name)
        if msr.readonly:
            assert msr.writable_mask == 0, msr.name
        assert msr.writable_mask & msr.gp_mask == 0 or msr.gp_mask == C.MASK64, msr.name
        assert msr.reset & msr.gp_mask == 0 or msr.name.endswith("_STATUS"), msr.name
    names = [m.name for m in table.values()]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", [n for n in MODELS if n not in MSR_MODELS])
def test_models_without_msrs_have_empty_tables(name):
    assert not MODELS[name].has_msr
    assert C.msr_table(name) == {} and C.msr_reset_values(name) == {}


def test_msr_presence_follows_the_features():
    p5, p6 = C.msr_table("pentium"), C.msr_table("pentium2")
    for table in (p5, p6):
        assert C.MSR_TSC in table and C.MSR_P5_MC_ADDR in table and C.MSR_P5_MC_TYPE in table
    # The Pentium's own counters exist only on the Pentium; the P6 ones only on the P6.
    assert C.MSR_P5_CESR in p5 and C.MSR_P5_CESR not in p6
    assert C.MSR_PERFCTR0 in p6 and C.MSR_PERFCTR0 not in p5
    # APIC_BASE only where there is an APIC; SYSENTER MSRs with SEP; MTRRs with MTRR.
    assert (C.MSR_APIC_BASE in p6, C.MSR_APIC_BASE in p5) == (True, False)
    for n in (C.MSR_SYSENTER_CS, C.MSR_SYSENTER_ESP, C.MSR_SYSENTER_EIP, C.MSR_MTRRCAP,
              C.MSR_MTRR_DEF_TYPE, C.MSR_MCG_CAP, C.MSR_BIOS_SIGN_ID, C.MSR_EBL_CR_POWERON):
        assert n in p6 and n not in p5
    # Test registers are not provided; addresses nobody defines raise #GP.
    for n in (0x02, 0x04, 0x0E, 0x1C, 0x277, 0xC0000080):
        assert n not in p5 and n not in p6


def test_p6_documented_values():
    t = C.msr_table("pentium2")
    assert t[C.MSR_APIC_BASE].reset == 0xFEE00900
    assert t[C.MSR_MTRRCAP].reset == 0x508 and t[C.MSR_MTRRCAP].readonly
    assert t[C.MSR_MCG_CAP].reset == 0x105 and t[C.MSR_MCG_CAP].readonly
    assert t[C.MSR_MTRR_DEF_TYPE].reset == 0
    # MTRRcap: 8 variable pairs and the 11 fixed-range registers are all present.
    assert all(0x200 + i in t for i in range(16))
    assert all(n in t for n in (0x250, 0x258, 0x259) + tuple(range(0x268, 0x270)))
    # Machine-check banks: count matches MCG_CAP, MISC nowhere, no MC4_ADDR (40Eh).
    banks = [n for n, m in t.items() if m.name.endswith("_CTL") and m.name.startswith("MC")
             and m.name != "MCG_CTL"]
    assert len(banks) == t[C.MSR_MCG_CAP].reset & 0xFF
    assert t[0x40C].name == "MC4_CTL" and t[0x410].name == "MC3_CTL"
    assert 0x40E not in t and not any(n in t for n in (0x403, 0x407, 0x40B, 0x40F, 0x413))
    assert t[0x401].reset == 1 << 60


def test_write_rules():
    t = C.msr_table("pentium2")
    with pytest.raises(C.MsrFault):
        C.write_value(t[C.MSR_MTRRCAP], 0x508, 0x508)               # read-only
    with pytest.raises(C.MsrFault):
        C.write_value(t[C.MSR_DEBUGCTL], 0, 0x80)                   # reserved bit
    assert C.write_value(t[C.MSR_DEBUGCTL], 0, 0x41) == 0x41
    # SYSENTER MSRs are 32-bit on the P6: EDX is dropped.
    assert C.write_value(t[C.MSR_SYSENTER_EIP], 0, 0x1234_C0001000) == 0xC0001000
    # MCi_STATUS: zeros only, hard-wired bits stay.
    with pytest.raises(C.MsrFault):
        C.write_value(t[0x401], 1 << 60, 1)
    assert C.write_value(t[0x405], 0xDEAD, 0) == 0
    assert C.write_value(t[0x40D], t[0x40D].reset, 0) == t[0x40D].reset


def test_apic_base_rules():
    msr = C.msr_table("pentium2")[C.MSR_APIC_BASE]
    moved = C.write_value(msr, msr.reset, 0xFEC00800)
    assert moved == 0xFEC00900                                        # BSP kept (read-only)
    off = C.write_value(msr, moved, 0xFEC00000)
    assert off == 0xFEC00100
    assert C.write_value(msr, off, 0xFEC00800) == 0xFEC00100          # EN stays clear
    with pytest.raises(C.MsrFault):
        C.write_value(msr, msr.reset, 0x1_FEE00900)                   # 63:32 reserved


def test_tsc_writes_per_model():
    p5 = C.msr_table("pentium")[C.MSR_TSC]
    p6 = C.msr_table("pentium2")[C.MSR_TSC]
    v = 0x1234_5678_9ABC_DEF0
    assert C.write_value(p5, 0, v) == v                                 # all 64 bits
    assert C.write_value(p6, 0xFFFF_FFFF_FFFF_FFFF, v) == 0x9ABC_DEF0  # high half cleared


def test_tsc_offset_from_the_global_clock():
    base = 1000                                   # clock.now at RESET
    assert C.tsc_read(1000, base) == 0
    assert C.tsc_read(1500, base) == 500
    nb = C.tsc_base_after_write("pentium", 2000, base, 10)
    assert C.tsc_read(2000, nb) == 10 and C.tsc_read(2007, nb) == 17
    nb = C.tsc_base_after_write("pentium2", 2000, base, 0xFFFF_FFFF_0000_0005)
    assert C.tsc_read(2000, nb) == 5
    nb = C.tsc_base_after_write("pentium", 5, 0, C.MASK64)          # wraps mod 2**64
    assert C.tsc_read(6, nb) == 0


def test_p6_counters_sign_extend_and_rdpmc():
    t = C.msr_table("pentium2")
    assert C.write_value(t[C.MSR_PERFCTR0], 0, 0xFFFF_FFFF_8000_0000) == 0xFF_8000_0000
    assert C.write_value(t[C.MSR_PERFCTR1], 0, 0x7FFF_FFFF) == 0x7FFF_FFFF
    assert C.rdpmc_counters("pentium2") == {0: C.MSR_PERFCTR0, 1: C.MSR_PERFCTR1}
    for name in MODELS:
        if name != "pentium2":
            assert C.rdpmc_counters(name) == {}
    with pytest.raises(C.MsrFault):
        C.write_value(t[C.MSR_PERFEVTSEL0], 0, 1 << 32)
    assert C.write_value(t[C.MSR_PERFEVTSEL1], 0, 0x00600000) == 0      # bits 21, 22 dropped
    assert C.write_value(t[C.MSR_PERFEVTSEL0], 0, 0x00600000) == 0x00400000


def test_reset_values():
    for name in MSR_MODELS:
        values = C.msr_reset_values(name)
        assert values[C.MSR_TSC] == 0
        assert set(values) == set(C.msr_table(name))
