"""The protected-mode guests (tests/guests/pm_*.asm) run on every 386-class model.

Each guest is a 64 KiB BIOS ROM written for these tests: it checks one area of protected
mode as an i386/i486 does it (SDM vol. 3, 80386 PRM) and reports every check on port 0xE9 as
"PASS <check>" or "FAIL <check>: expected X got Y", then stops through isa-debug-exit with 0
when all passed.  docs/pm-guests.md describes the guests and how they ran on QEMU.

The test assembles each guest with NASM, runs it on cycle86 with the debug ports attached and
asserts that it stopped through isa-debug-exit, printed no FAIL line, and printed exactly the
PASS lines listed here, in order.  Which checks a guest makes depends on what the CPU has (a
486 or later, CPUID and its feature flags), which the guest prints on an INFO line; the test
checks that line against the model and derives the list from it.
"""
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import bench
from core.models import ISA_386, ISA_486, ISA_586, ISA_686, MODELS

GUEST_DIR = Path(__file__).resolve().parent / "guests"
GUESTS = ["pm_enter", "pm_selectors", "pm_rings", "pm_tasks", "pm_paging", "pm_v86",
          "pm_exceptions", "pm_486", "pm_stack", "pm_x87", "pm_pae"]
# Every model that runs protected-mode 32-bit code: 80386 now, later models as they come.
PM_MODELS = [name for name, model in MODELS.items() if model.isa >= ISA_386]
MEMORY = 16 << 20
# Each guest needs about 50,000 instructions (under 250,000 cycles); one still running after this many
# cycles is looping where it should not.
MAX_CYCLES = 20_000_000
PASSED_STATUS = 1                   # isa-debug-exit with 0: (0 << 1) | 1

CPUID_PSE, CPUID_TSC, CPUID_CX8, CPUID_CMOV = 1 << 3, 1 << 4, 1 << 8, 1 << 15
CPUID_VME, CPUID_DE, CPUID_PAE, CPUID_PGE = 1 << 1, 1 << 2, 1 << 6, 1 << 13


# ---------------------------------------------------------------- building and running

def nasm_exe():
    exe = shutil.which("nasm")
    if exe is None:
        if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
            pytest.fail("nasm is required to build the protected-mode guests "
                        "(apt-get install nasm; .ci/run installs it)")
        pytest.skip("nasm is not installed (.ci/run installs it)")
    return exe


@pytest.fixture(scope="session")
def roms(tmp_path_factory):
    """Assemble each guest once per session: name -> ROM bytes."""
    exe = nasm_exe()
    out_dir = tmp_path_factory.mktemp("pm_guests")
    built = {}
    for name in GUESTS:
        out = out_dir / (name + ".rom")
        proc = subprocess.run(
            [exe, "-f", "bin", "-w+error", "-i", str(GUEST_DIR) + os.sep, "-o", str(out),
             str(GUEST_DIR / (name + ".asm"))],
            capture_output=True, text=True)
        assert proc.returncode == 0, "nasm failed on %s.asm:\n%s" % (name, proc.stderr)
        built[name] = out.read_bytes()
    return built


@dataclass
class GuestRun:
    result: object
    text: str
    lines: list
    where: str = ""                 # CS:EIP and CR0 when the run ended


def run_guest(rom, model):
    m, port = bench.make_machine(rom, cpu=model, memory=MEMORY)
    result = bench.run_machine(m, port, max_cycles=MAX_CYCLES)
    text = result.output.decode("latin-1")
    cpu = m.cpu
    where = "cs=%04X eip=%08X cr0=%08X" % (cpu.cs, cpu.eip, cpu.cr0)
    return GuestRun(result, text, text.splitlines(), where)


# ---------------------------------------------------------------- what the guest found

@dataclass
class Cpu:
    """What the guest's INFO line says: a 486 or later, and CPUID leaf 1 EDX (None: none)."""
    i486: bool
    cpuid_edx: object

    def has(self, bit):
        return self.cpuid_edx is not None and bool(self.cpuid_edx & bit)


INFO_RE = re.compile(r"INFO cpu=(386|486\+) cpuid=(none|eax1:([0-9A-F]{8}),edx1:([0-9A-F]{8}))$")


def cpu_of(run):
    for line in run.lines:
        m = INFO_RE.match(line)
        if m:
            edx = None if m.group(2) == "none" else int(m.group(4), 16)
            return Cpu(m.group(1) == "486+", edx)
    return None


def check_cpu_matches_model(cpu, model):
    """The processor the guest detected is the model that ran it."""
    isa = MODELS[model].isa
    if isa == ISA_386:
        assert not cpu.i486, "an 80386 must not let EFLAGS.AC be set"
        assert cpu.cpuid_edx is None, "an 80386 must not let EFLAGS.ID be changed"
        return
    assert cpu.i486, "a 486 or later lets EFLAGS.AC be set"
    if isa >= ISA_586:
        assert cpu.cpuid_edx is not None, "a Pentium has CPUID"
        for bit, name in ((CPUID_PSE, "PSE"), (CPUID_TSC, "TSC"), (CPUID_CX8, "CX8")):
            assert cpu.has(bit), "a Pentium reports %s in CPUID leaf 1 EDX" % name
    if isa >= ISA_686:
        assert cpu.has(CPUID_CMOV), "a P6 reports CMOV in CPUID leaf 1 EDX"


# ---------------------------------------------------------------- the checks of each guest

def expected_pm_enter(cpu):
    return [
        "lmsw-sets-pe", "pm16-far-jmp-cs", "pm16-load-ss", "pm16-load-ds",
        "pm16-push-is-2-bytes", "pm16-descriptor-base", "lmsw-cannot-clear-pe",
        "rm-pe-cleared", "rm-far-jmp-cs", "rm-base-is-selector-x16", "rm-limit-64k-gp",
        "rm-limit-gp-ip", "rm-limit-64k-ss", "pm32-far-jmp-cs", "pm32-push-is-4-bytes",
        "pm32-flat-above-1m", "rm-again-cs", "rm-again-pe-cleared", "unreal-fs-no-fault",
        "unreal-fs-read", "unreal-fs-reload-keeps-limit", "unreal-gs-write", "pm32-reentered",
    ]


def expected_pm_selectors(cpu):
    return [
        # null selectors
        "ss-null", "ds-null-load", "es-null-rpl3-load", "ds-null-use", "es-null-stos",
        "fs-null-write",
        # descriptor table limits, the LDT
        "gdt-beyond-limit", "gdt-beyond-limit-rpl3", "ldt-selector-no-ldt",
        "ldt-selector-load", "ldt-segment-write", "ldt-segment-base", "ldt-beyond-limit",
        "lldt-tss-descriptor",
        # descriptor types
        "ds-tss-descriptor", "fs-ldt-descriptor", "gs-call-gate", "ds-execute-only-code",
        "ds-execute-read-code", "execute-read-code-read", "execute-read-code-write",
        "ss-code", "ds-read-only-load", "read-only-write", "read-only-stos", "ss-read-only",
        # privilege
        "ds-rpl3-dpl0", "ds-dpl3-at-cpl0", "ss-dpl3-at-cpl0", "ss-rpl3-at-cpl0",
        "ds-conforming-rpl3", "ds-code-rpl3-dpl0", "ds-dpl0-at-cpl3", "ds-dpl0-at-cpl3-cs",
        "ss-dpl0-at-cpl3",
        # presence, POP
        "ds-not-present", "gs-not-present", "ss-not-present", "not-present-rpl3-is-gp",
        "pop-ds-execute-only", "pop-ds-fault-keeps-esp",
        # limits
        "limit-last-byte", "limit-last-dword", "limit-dword-crosses", "limit-beyond",
        "limit-far-beyond", "expand-down-b1-above-limit", "expand-down-b1-high",
        "expand-down-b1-at-limit", "expand-down-b1-offset-0", "expand-down-b1-dword-crosses",
        "expand-down-b0-top-byte", "expand-down-b0-above-64k", "expand-down-b0-word-at-top",
        "expand-down-b0-at-limit", "granular-limit-0-last", "granular-limit-0-beyond",
        "granular-limit-1-last", "granular-limit-1-beyond", "ss-limit", "ss-limit-ebp-dword",
        "code-accessed-clear-before", "cs-limit-jmp", "cs-limit-jmp-cs", "code-accessed-set",
        # accessed bit
        "data-accessed-clear-before", "data-accessed-set", "ldt-accessed-set",
        # LAR LSL VERR VERW
        "lar-data", "lar-data-zf", "lsl-byte-granular", "lsl-page-granular", "lsl-tss",
        "lar-call-gate", "lsl-call-gate-unchanged", "lsl-call-gate-zf", "lar-beyond-limit-zf",
        "lar-null-zf", "lar-rpl-above-dpl-zf", "verr-execute-only", "verr-execute-read",
        "verw-code", "verw-read-only", "verw-data", "verr-rpl3-dpl0", "lar-not-present",
        "arpl-raises-rpl", "arpl-raises-rpl-zf", "arpl-keeps-higher-rpl",
        "arpl-keeps-higher-rpl-zf",
    ]


def expected_pm_rings(cpu):
    return [
        # IRET and RETF outwards
        "iret-to-ring3", "iret-to-ring3-cs", "iret-to-ring3-ss", "iret-to-ring3-esp",
        "iret-nulls-ds-dpl0", "iret-nulls-fs-dpl0", "iret-keeps-es-dpl3",
        "iret-keeps-gs-conforming", "retf-to-ring3", "retf-to-ring3-cs", "retf-nulls-ds-dpl0",
        # call gate
        "call-gate-round-trip", "call-gate-cs", "call-gate-ss-from-tss",
        "call-gate-esp-from-tss", "call-gate-param-0", "call-gate-param-1",
        "call-gate-pushed-ss", "call-gate-pushed-esp", "call-gate-pushed-cs",
        "call-gate-pushed-eip", "retf-n-releases-outer-params", "retf-n-nulls-ds-dpl0",
        "call-gate-dpl0-from-ring3", "call-gate-not-present", "conforming-calls-round-trip",
        "call-gate-conforming-keeps-cpl3", "call-gate-conforming-same-stack",
        "call-far-conforming-keeps-cpl3", "call-far-ring0-code-from-ring3",
        # interrupt and trap gates
        "int-gate-round-trip", "int-gate-clears-if", "int-gate-clears-nt",
        "int-gate-esp-from-tss", "int-gate-pushed-eip", "int-gate-pushed-cs",
        "int-gate-pushed-eflags", "int-gate-pushed-esp", "int-gate-pushed-ss",
        "iret-restores-if-nt", "trap-gate-round-trip", "trap-gate-keeps-if",
        "trap-gate-pushed-eflags", "int-dpl0-gate-from-ring3", "int3-dpl0-gate-from-ring3",
        "ud-at-ring3-through-dpl0-gate", "ud-at-ring3-pushed-cs",
        # privileged instructions, IOPL
        "cli-ring3-iopl0", "fault-from-ring3-pushed-ss", "fault-from-ring3-pushed-esp",
        "fault-from-ring3-esp0", "sti-ring3-iopl0", "cli-ring3-iopl3", "sti-ring3-iopl3",
        "hlt-ring3", "mov-cr0-write-ring3", "mov-cr0-read-ring3", "mov-cr3-write-ring3",
        "mov-dr7-write-ring3", "lgdt-ring3", "lidt-ring3", "lldt-ring3", "ltr-ring3",
        "lmsw-ring3", "clts-ring3", "smsw-ring3", "sgdt-ring3", "iret-to-ring0-from-ring3",
        "popf-ring3-no-fault", "popf-ring3-if-unchanged", "popf-ring3-iopl-unchanged",
        "popf-ring3-cf-changed", "iret-ring3-no-fault", "iret-ring3-if-iopl-unchanged",
        # I/O permission bitmap
        "io-bitmap-allowed-in", "io-bitmap-allowed-out", "io-bitmap-denied-in",
        "io-bitmap-denied-out", "io-bitmap-word-half-denied", "io-bitmap-last-port",
        "io-beyond-tss-limit", "io-iopl3-ignores-bitmap",
    ]


def expected_pm_tasks(cpu):
    return [
        "ltr-marks-busy", "ltr-busy-tss",
        # JMP
        "jmp-back-restores-eax", "jmp-tss-round-trip", "jmp-tss-tr", "jmp-tss-loads-eax",
        "jmp-tss-loads-esp", "jmp-tss-loads-ldtr", "jmp-tss-nt-clear",
        "jmp-tss-link-untouched", "jmp-tss-old-not-busy", "jmp-tss-new-busy",
        "task-switch-sets-ts", "jmp-tss-saves-eip", "jmp-tss-saves-eax", "jmp-tss-saves-esp",
        "jmp-tss-saves-cs", "jmp-tss-saves-ss", "jmp-back-tr", "jmp-back-ldtr",
        "jmp-back-a-busy", "jmp-back-b-not-busy",
        # CALL and IRET
        "iret-back-restores-eax", "call-tss-round-trip", "call-tss-saves-eip",
        "call-tss-sets-nt", "call-tss-back-link", "call-tss-old-stays-busy",
        "call-tss-new-busy", "iret-task-clears-busy", "iret-task-clears-saved-nt",
        "iret-task-caller-nt-clear", "iret-back-tr",
        # task gates
        "jmp-task-gate-round-trip", "jmp-task-gate-tr", "jmp-task-gate-nt-clear",
        "int-task-gate-round-trip", "int-task-gate-tr", "int-task-gate-sets-nt",
        "int-task-gate-back-link", "int-task-gate-old-busy", "int-task-gate-saves-eip",
        "exception-task-gate-round-trip", "exception-task-gate-error-code",
        "exception-task-gate-new-stack", "exception-task-gate-tr", "exception-task-gate-nt",
        "exception-task-gate-link", "exception-task-gate-saved-eip",
        # refused switches
        "call-busy-tss", "jmp-busy-tss", "jmp-tss-limit-below-67h", "jmp-tss-not-present",
        "iret-nt-link-not-busy", "refused-switches-keep-a-busy",
        "refused-switches-keep-b-free",
    ]


def expected_pm_paging(cpu):
    names = [
        "paging-enabled", "identity-map-reads-rom",
        # accessed and dirty
        "pte-fresh", "pte-accessed-on-read", "pte-dirty-on-write", "pde-fresh",
        "pde-accessed", "pde-dirty-untouched",
        # demand paging
        "demand-write-resumes", "demand-write-one-fault", "demand-write-cr2",
        "demand-write-error-code", "demand-write-eip", "demand-write-value",
        "demand-read-resumes", "demand-read-one-fault", "demand-read-cr2",
        "demand-read-error-code", "demand-read-fresh-page", "demand-mapped-no-refault",
        "demand-user-write-resumes", "demand-user-write-error-code", "demand-user-one-fault",
        "demand-user-write-value",
        # protection
        "user-read-supervisor-page", "user-read-supervisor-page-cr2",
        "user-write-read-only-page", "user-write-read-only-page-cr2",
        "user-read-read-only-page", "supervisor-read-supervisor-page",
        "user-read-under-supervisor-pde", "user-write-under-read-only-pde",
        "user-read-under-read-only-pde", "read-not-present", "read-not-present-cr2",
        "write-not-present", "fetch-not-present", "fetch-not-present-cr2",
        "user-fetch-supervisor-page", "write-crossing-into-not-present",
        # CR0.WP
        "wp0-supervisor-writes-read-only",
    ]
    if cpu.i486:
        names += ["wp1-supervisor-write-read-only", "wp1-supervisor-read-read-only"]
    names += ["remap-before"]
    names += ["invlpg-new-translation"] if cpu.i486 else ["invlpg-386-ud"]
    names += ["cr3-reload-new-translation", "flushed-not-present-faults"]
    if cpu.has(CPUID_PSE):
        names += ["pse-4m-alias", "pse-4m-physical", "pse-22-bit-offset",
                  "pse-pde-accessed-dirty", "pse-pde-read-only-accessed", "pse-not-present",
                  "pse-not-present-cr2"]
    return names


def expected_pm_v86(cpu):
    return [
        # IOPL 0
        "v86-run-iopl0", "v86-cs", "v86-ss", "v86-ds", "v86-segment-base-x16",
        "v86-loop-sum", "v86-32-bit-operand", "v86-gp-error-code", "v86-gp-pushed-eip",
        "v86-gp-pushed-cs", "v86-gp-pushed-eflags-vm", "v86-gp-pushed-esp",
        "v86-gp-pushed-ss", "v86-gp-pushed-es", "v86-gp-pushed-ds", "v86-gp-pushed-fs",
        "v86-gp-pushed-gs", "v86-gp-handler-ds-null", "v86-gp-stack-from-tss",
        "v86-int-emulated", "v86-int-handler-cs", "v86-iopl0-int-traps",
        "v86-iopl0-iret-traps", "v86-iopl0-cli-traps", "v86-iopl0-sti-traps",
        "v86-iopl0-pushf-traps", "v86-iopl0-popf-traps", "v86-iopl0-allowed-port-no-trap",
        "v86-iopl0-gp-count", "v86-pushf-virtual-if-set", "v86-pushf-virtual-if-clear",
        # IOPL 3
        "v86-run-iopl3", "v86-iopl3-no-traps", "v86-iopl3-pushf-shows-iopl",
        "v86-iopl3-popf-keeps-iopl", "v86-int-through-idt-returns", "v86-int-idt-pushed-eip",
        "v86-int-idt-pushed-cs", "v86-int-idt-pushed-eflags", "v86-int-idt-pushed-esp",
        "v86-int-idt-pushed-ss", "v86-int-idt-pushed-ds", "v86-int-idt-pushed-gs",
        "v86-int-idt-ds-null", "v86-int-idt-fs-null", "v86-int-idt-gs-null",
        "v86-int-idt-stack-from-tss", "v86-int-dpl0-gate-gp", "v86-io-bitmap-allowed",
        "v86-io-bitmap-denied-iopl3", "v86-io-bitmap-denied-port",
        "v86-io-skipped-by-monitor",
    ]


def expected_pm_exceptions(cpu):
    names = [
        "de-div-by-zero", "de-idiv-overflow", "de-div8-quotient-too-big",
        # #DB
        "db-single-step", "db-single-step-dr6-bs", "db-single-step-pushed-tf",
        "db-single-step-after-mov-ss-delayed",
        "db-instruction-breakpoint", "db-instruction-breakpoint-dr6", "db-data-write",
        "db-data-write-dr6", "db-data-read", "db-data-read-dr6",
        "db-write-breakpoint-ignores-read", "db-byte-breakpoint-misses-next-byte",
        "db-byte-write", "db-byte-write-dr6", "db-general-detect", "db-general-detect-dr6-bd",
        "db-general-detect-clears-gd",
        # #BP #OF #BR #UD #NM
        "bp-int3", "bp-int-3-two-bytes", "of-into", "of-into-no-overflow", "br-bound-above",
        "br-bound-below", "br-bound-inside", "ud-ud2", "ud-lock-nop", "ud-mov-cs",
        "ud-lea-register", "nm-esc-em", "nm-esc-ts", "wait-ts-without-mp", "nm-wait-mp-ts",
        "wait-ignores-em",
        # #DF and the benign rule
        "df-de-gate-not-present", "np-ud-gate-not-present", "np-int3-gate-not-present",
        # #TS #NP #SS #GP #PF
        "ts-tss-limit-below-67h", "np-data-segment", "ss-stack-segment-not-present",
        "ss-stack-limit", "gp-selector-beyond-gdt", "gp-instruction-too-long",
        "gp-instruction-15-bytes-ok", "gp-int-beyond-idt-limit", "gp-idt-entry-not-a-gate",
        "pf-read-not-present",
        "pf-read-not-present-cr2", "pf-write-not-present",
    ]
    if cpu.i486:
        names += ["ac-misaligned-dword", "ac-misaligned-word", "ac-aligned-dword",
                  "ac-byte-never", "ac-flag-clear", "ac-ring0-never", "ac-am-clear"]
    return names


def expected_pm_486(cpu):
    if not cpu.i486:
        return ["ud2", "386-bswap-ud", "386-xadd-ud", "386-cmpxchg-ud", "386-cmpxchg-byte-ud",
                "386-invd-ud", "386-wbinvd-ud", "386-invlpg-ud", "386-cpuid-ud",
                "386-rdtsc-ud", "386-cmpxchg8b-ud", "386-cmov-ud"]
    names = [
        "ud2", "bswap", "bswap-edx", "xadd-sum", "xadd-old-value", "xadd-flags-like-add",
        "xadd-memory-sum", "xadd-memory-old-value", "cmpxchg-equal-zf", "cmpxchg-equal-stores",
        "cmpxchg-not-equal-zf", "cmpxchg-not-equal-loads-eax",
        "cmpxchg-not-equal-keeps-memory", "cmpxchg-byte", "cmpxchg-word-loads-ax",
        "invd-ring0", "wbinvd-ring0", "invlpg-ring0", "invd-ring3", "wbinvd-ring3",
        "invlpg-ring3", "invlpg-register-operand-ud",
    ]
    if cpu.cpuid_edx is None:
        return names + ["cpuid-absent-ud", "rdtsc-absent-ud", "cmpxchg8b-absent-ud",
                        "cmov-absent-ud"]
    names += ["cpuid-max-leaf-at-least-1", "cpuid-family-at-least-4", "cpuid-leaf1-stable"]
    if cpu.has(CPUID_TSC):
        names += ["rdtsc-increases", "rdtsc-ring3-tsd-clear", "rdtsc-ring3-tsd-set",
                  "rdtsc-ring0-tsd-set"]
    else:
        names += ["rdtsc-absent-ud"]
    if cpu.has(CPUID_CX8):
        names += ["cmpxchg8b-equal-zf", "cmpxchg8b-equal-stores-low",
                  "cmpxchg8b-equal-stores-high", "cmpxchg8b-not-equal-zf",
                  "cmpxchg8b-not-equal-loads-eax", "cmpxchg8b-not-equal-loads-edx",
                  "cmpxchg8b-register-operand-ud"]
    else:
        names += ["cmpxchg8b-absent-ud"]
    if cpu.has(CPUID_CMOV):
        names += ["cmov-taken", "cmov-not-taken", "cmov-memory"]
    else:
        names += ["cmov-absent-ud"]
    return names



def expected_pm_stack(cpu):
    popa = ["popa-o32-b16-sp"] + ([] if cpu.i486 else ["popa-o32-b16-386-esp-high"])
    return [
        # POP SS: the pop moves the pointer of the stack it read
        "pop-ss-o32-b16-to-b32", "pop-ss-o16-b32-to-b16", "pop-ss-o32-b32-to-b16",
        "pop-ss-o16-b16-to-b32", "pop-ss-o32-b16-to-b16", "pop-ss-o32-b32-to-b32",
        # MOV SS / LSS: the next instruction uses the new B
        "mov-ss-b32-to-b16-push", "mov-ss-b16-to-b32-push", "lss-o32-b16-push",
        "lss-o16-keeps-esp-high",
        # POP r/m addressed through ESP
        "pop-mem-esp-b16-esp", "pop-mem-esp-b16-address", "pop-mem-esp-b16-not-unwrapped",
        "pop-mem-esp-b32-esp", "pop-mem-esp-b32-address",
        # PUSHA / POPA
        "pusha-o32-b16-esp", "pusha-o32-b16-pushed-esp"] + popa + [
        "pusha-o16-b32-esp", "popa-o16-b32-esp",
        # ENTER / LEAVE
        "enter-o32-b16-ebp", "enter-o32-b16-esp", "enter-o16-b32-ebp", "enter-o16-b32-esp",
        "enter-o32-b16-level2-ebp", "enter-o32-b16-level2-esp", "enter-o32-b16-level2-display",
        "enter-o32-b16-level2-frame", "enter-final-sp-below-limit", "enter-fault-keeps-ebp",
        "leave-o32-b16-esp", "leave-o32-b16-ebp", "leave-o16-b32-esp", "leave-o16-b32-ebp",
        # IRET / RETF to an outer level
        "iret-from-b16-inner", "iret-from-b16-inner-esp3", "iret-from-b16-inner-ss3",
        "iret-to-b32-outer-push", "iret-to-b16-outer", "iret-to-b16-outer-sp",
        "iret-to-b16-outer-push-wraps", "retf-imm-from-b16-inner", "retf-imm-to-b32-outer-esp",
        # gates with a stack switch
        "int-gate-to-b16-inner", "int-gate-to-b16-inner-sp", "int-gate-to-b16-inner-eip",
        "int-gate-to-b16-inner-cs", "int-gate-to-b16-inner-old-esp",
        "int-gate-to-b16-inner-old-ss", "int-gate-from-b16-outer",
        "int-gate-from-b16-outer-esp0", "int-gate-from-b16-outer-old-esp",
        "call-gate-to-b16-inner", "call-gate-to-b16-inner-sp", "call-gate-to-b16-inner-eip",
        "call-gate-to-b16-inner-old-esp", "call-gate-to-b16-inner-old-ss",
        "call-gate-from-b16-outer", "call-gate-from-b16-outer-old-esp",
        # expand-down stacks at both ends
        "ed16-push-to-limit", "ed16-pop-at-top-wraps", "ed16-below-limit", "ed16-word-past-top",
        "ed16-last-byte", "ed32-push-to-limit", "ed32-push-wraps-to-top", "ed32-below-limit",
        "ed32-high-offset",
    ]


CPUID_FPU = 1 << 0


def expected_pm_x87(cpu, pic=False):
    checks = ["nm-em-fadd", "nm-em-fninit"]
    if not cpu.has(CPUID_FPU):
        return checks               # the 80386 model has no 80387, the 80486SX no FPU
    checks += ["nm-ts-fld", "nm-ts-fnstsw", "nm-ts-mp-wait", "ts-without-mp-wait-runs",
               "clts-then-fld-runs",
               "tag-word-two-loads", "top-after-two-loads", "fstenv-fip", "fstenv-fcs-fop",
               "fstenv-fdp", "fstenv-fds", "fstenv-fop-memory-form",
               "stack-overflow-ie-sf-c1", "stack-overflow-indefinite",
               "mf-not-at-faulting-insn", "mf-pending-es-b-ze", "mf-at-next-waiting-insn",
               "mf-wait", "fnclex-clears-pending"]
    if pic:
        checks += ["irq13-delivered-once", "irq13-after-faulting-insn", "irq13-sees-ze"]
    return checks


def expected_pm_pae(cpu):
    if not cpu.has(CPUID_PAE):
        # Where CR4 exists (a CPUID feature that lives in it), CR4.PAE cannot be set.
        if any(cpu.has(bit) for bit in (CPUID_VME, CPUID_DE, CPUID_PSE, CPUID_TSC)):
            return ["cr4-pae-gp", "cr4-unchanged"]
        return []
    names = [
        "pg-bad-pdpte-gp", "pg-stays-off", "paging-enabled", "pae-enabled",
        # the PDPTE registers
        "cr3-bad-pdpte-gp", "cr3-unchanged", "cr3-pdpte-bit36-gp",
        "cr3-not-present-pdpte-unchecked", "pdpte-reload-maps", "pdpte-is-a-register",
        "pdpte-reloaded-not-present", "pdpte-not-present-cr2",
        # 4 KiB and 2 MiB pages, accessed and dirty
        "identity-4k-reads-rom", "pte-fresh", "pte-accessed-on-read", "pte-dirty-on-write",
        "pte-high-dword-kept", "pde-accessed-not-dirty", "2m-alias", "2m-21-bit-offset",
        "2m-pde-accessed-dirty", "2m-pde-fresh", "2m-pde-accessed-on-read",
        # reserved bits
        "rsvd-2m-bit13", "rsvd-2m-bit13-cr2", "rsvd-pde-bit62-write", "rsvd-pte-bit40",
        "rsvd-pte-user", "rsvd-pte-not-accessed", "rsvd-unchecked-not-present",
        # protection
        "user-read-supervisor-page", "user-read-supervisor-page-cr2",
        "user-write-read-only-page", "user-read-read-only-page", "user-read-supervisor-2m",
        "supervisor-read-supervisor-2m", "read-not-present", "user-write-not-present",
        "not-present-pdpte", "wp0-supervisor-writes-read-only",
        "wp1-supervisor-write-read-only", "wp1-supervisor-read-read-only",
        # TLB flushes
        "remap-before", "invlpg-new-translation", "cr3-reload-new-translation",
        "2m-remap-before", "invlpg-2m-whole-page",
    ]
    if cpu.has(CPUID_PGE):
        names += ["global-before", "pge-toggle-flushes-global", "invlpg-flushes-global"]
    names += ["above-4g-write", "above-4g-no-alias", "above-4g-pte-dirty", "above-4g-pte-high",
              "above-4g-2m-write", "above-4g-2m-no-alias"]
    return names


EXPECTED = {name: globals()["expected_" + name] for name in GUESTS}


# ---------------------------------------------------------------- the tests

def test_every_guest_has_source_and_expectations():
    on_disk = sorted(p.stem for p in GUEST_DIR.glob("pm_*.asm"))
    assert on_disk == sorted(GUESTS)
    assert (GUEST_DIR / "pm.inc").is_file()


@pytest.mark.parametrize("name", GUESTS)
def test_guest_is_a_64k_rom_with_a_reset_jump(roms, name):
    rom = roms[name]
    assert len(rom) == 64 * 1024
    assert rom[0xFFF0] == 0xEA                                      # JMP FAR at F000:FFF0
    assert int.from_bytes(rom[0xFFF3:0xFFF5], "little") == 0xF000   # to segment F000


def summary(run, limit=12):
    """The first FAIL line, or else the last lines of output, for an assertion message."""
    fails = [line for line in run.lines if line.startswith("FAIL")]
    tail = "\n".join(run.lines[-limit:]) or "(no output)"
    head = ("first failure: %s (%d FAIL lines)\n" % (fails[0], len(fails))) if fails else ""
    return "%sstopped: %s, exit status %r after %d instructions at %s\nlast output:\n%s" % (
        head, run.result.reason, run.result.exit_status, run.result.instructions, run.where,
        tail)


@pytest.mark.parametrize("model", PM_MODELS)
@pytest.mark.parametrize("name", GUESTS)
def test_guest_passes(roms, name, model):
    run = run_guest(roms[name], model)
    cpu = cpu_of(run)
    assert cpu is not None, "the guest printed no INFO cpu= line\n" + summary(run)
    check_cpu_matches_model(cpu, model)
    fails = [line for line in run.lines if line.startswith("FAIL")]
    assert not fails, summary(run)
    assert run.result.reason == "stop" and run.result.stop_reason.startswith("isa-debug-exit"), (
        "the guest did not stop through isa-debug-exit\n" + summary(run))
    passed = [line[5:] for line in run.lines if line.startswith("PASS ")]
    expected = EXPECTED[name](cpu)
    missing = [n for n in expected if n not in passed]
    extra = [n for n in passed if n not in expected]
    assert passed == expected, "missing %s, unexpected %s\n%s" % (missing, extra, summary(run))
    assert "END %s pass=%d fail=0" % (name, len(expected)) in run.lines
    assert run.result.exit_status == PASSED_STATUS


@pytest.mark.parametrize("model", [n for n, m in MODELS.items() if m.fpu])
def test_x87_guest_on_a_pc_gets_irq13(roms, model):
    """pm_x87 as the BIOS of an ISA PC: with the 8259s there, an unmasked x87 exception
    with CR0.NE = 0 arrives as IRQ13 (FERR# through peripherals/npx.py)."""
    from core.pc import PCConfig, build_pc
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".rom") as f:
        f.write(roms["pm_x87"])
        f.flush()
        pc = build_pc(PCConfig(machine="isapc", cpu=model, memory=MEMORY, bios=f.name,
                               vgabios="none", bios_only=True))
        outcome = pc.run(max_cycles=MAX_CYCLES)
    lines = pc.debugport.output.decode("latin-1").splitlines()
    assert "INFO fpu=yes pic=yes" in lines, lines[:5]
    assert not [l for l in lines if l.startswith("FAIL")], lines
    passed = [l[5:] for l in lines if l.startswith("PASS ")]
    cpu = Cpu(True, 1)
    assert passed == expected_pm_x87(cpu, pic=True)
    assert outcome.reason == "stop" and outcome.exit_status == PASSED_STATUS
