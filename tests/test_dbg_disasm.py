"""debugger/disasm.py: capstone text, CS:IP-aware addresses and the control-flow helpers."""
import random

import pytest

from debugger.disasm import Instruction, disassemble, disassemble_one, format_line
from tests.asm import nasm


def texts(code, address=0, bits=16):
    return [i.text for i in disassemble(code, address, bits)]


# -- text ------------------------------------------------------------------------------------

def test_known_16bit_text():
    code = nasm("""
        mov ax, 0x07c0
        mov ds, ax
        xor si, si
        mov byte [si+4], 0x12
        push es
        rep movsb
        in al, 0x60
        hlt
    """)
    assert texts(code) == [
        "mov ax, 0x7c0",
        "mov ds, ax",
        "xor si, si",
        "mov byte ptr [si + 4], 0x12",
        "push es",
        "rep movsb byte ptr es:[di], byte ptr [si]",
        "in al, 0x60",
        "hlt",
    ]


def test_known_32bit_text():
    code = nasm("""
        push ebp
        mov eax, [ebx+4]
        lgdt [0x1000]
        mov cr0, eax
        iretd
    """, bits=32)
    assert texts(code, 0x100000, 32) == [
        "push ebp",
        "mov eax, dword ptr [ebx + 4]",
        "lgdt [0x1000]",
        "mov cr0, eax",
        "iretd",
    ]


# NASM encodes each line; the disassembly must name the same two registers in the same order
# (capstone alone prints D8 C1 as "fadd st(1)", which reads as the DC C1 direction).
X87_REGISTER_FORMS = """
    fadd st0, st1
    fadd st1, st0
    faddp st1, st0
    fmul st0, st7
    fmul st6, st0
    fmulp st2, st0
    fsub st0, st3
    fsub st3, st0
    fsubp st4, st0
    fsubr st0, st2
    fsubr st2, st0
    fsubrp st5, st0
    fdiv st0, st1
    fdiv st1, st0
    fdivp st6, st0
    fdivr st0, st4
    fdivr st4, st0
    fdivrp st7, st0
    fcmovb st0, st5
    fcmove st0, st1
    fcmovbe st0, st2
    fcmovu st0, st3
    fcmovnb st0, st4
    fcmovne st0, st5
    fcmovnbe st0, st6
    fcmovnu st0, st7
    fucomi st0, st2
    fcomi st0, st3
    fucomip st0, st4
    fcomip st0, st5
"""


@pytest.mark.parametrize("bits", [16, 32])
def test_x87_register_forms_name_both_operands(bits):
    lines = [line.split(None, 1) for line in X87_REGISTER_FORMS.strip().splitlines()]
    code = nasm(X87_REGISTER_FORMS, bits)
    got = disassemble(code, 0, bits)
    assert len(got) == len(lines)
    for insn, (_, operands) in zip(got, lines):
        want = ", ".join("st(%s)" % r.strip()[2:] for r in operands.split(","))
        assert insn.op_str == want, (insn.bytes.hex(), insn.text)
    # The one-operand spellings stay as Intel writes them.
    assert texts(nasm("fcom st1\nfxch st3\nfstp st2\nfucomp st4"), 0) == [
        "fcom st(1)", "fxch st(3)", "fstp st(2)", "fucomp st(4)"]


def test_operand_size_prefix_in_16bit_code():
    code = nasm("mov eax, 0x12345678\nrep movsd")
    insns = disassemble(code, 0)
    assert [i.text for i in insns] == ["mov eax, 0x12345678",
                                       "rep movsd dword ptr es:[di], dword ptr [si]"]
    assert [i.size for i in insns] == [6, 3]


def test_fields_and_linear_address():
    insn = disassemble(bytes.fromhex("b8c007"), 0x7c00, linear_base=0)[0]
    assert insn == Instruction(0x7c00, 0x7c00, 3, b"\xb8\xc0\x07", "mov", "ax, 0x7c0", 16)
    assert insn.text == "mov ax, 0x7c0"
    assert disassemble(b"\x90", 0x10, linear_base=0x7c00)[0].linear == 0x7c10
    assert disassemble(b"\x90", 0x10)[0].linear is None
    assert disassemble(b"\x90", 0x10)[0].text == "nop"  # no trailing space without operands


# -- decoding every byte ---------------------------------------------------------------------

def test_sizes_cover_the_code_exactly():
    rng = random.Random(86)
    for bits in (16, 32):
        for _ in range(50):
            code = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            insns = disassemble(code, 0x100, bits)
            assert sum(i.size for i in insns) == len(code)
            assert b"".join(i.bytes for i in insns) == code
            addr = 0x100
            for i in insns:
                assert i.address == addr and 1 <= i.size <= 15
                addr += i.size


def test_undecodable_bytes_become_db_and_decoding_resumes():
    # FE /7 is undefined, so FE F8 is one `db 0xfe` and decoding goes on with F8 (CLC);
    # LES with a register operand (C4 C0) is #UD; B8 C0 is a MOV cut short by the end.
    insns = disassemble(bytes.fromhex("fef890c4c0b8c0"), 0)
    assert [(i.mnemonic, i.op_str, i.size) for i in insns] == [
        ("db", "0xfe", 1), ("clc", "", 1), ("nop", "", 1), ("db", "0xc4", 1),
        ("db", "0xc0", 1), ("db", "0xb8", 1), ("db", "0xc0", 1)]


def test_0f_ff_is_ud0_not_garbage():
    # 0F FF is UD0 (SDM vol. 2): a real, two-byte instruction.
    insn = disassemble_one(b"\x0f\xff", 0)
    assert (insn.mnemonic, insn.size) == ("ud0", 2)


def test_truncated_instruction_at_the_end_is_db():
    insns = disassemble(bytes.fromhex("90b8c0"), 0)
    assert [i.text for i in insns] == ["nop", "db 0xb8", "db 0xc0"]
    assert not any(i.is_call or i.is_branch or i.is_return for i in insns[1:])
    assert insns[1].target is None


def test_count_limits_the_output():
    code = nasm("nop\nnop\nnop\nnop")
    assert len(disassemble(code, 0, count=2)) == 2
    assert len(disassemble(code, 0, count=10)) == 4
    assert len(disassemble(code, 0, count=None)) == 4
    assert disassemble(code, 0, count=0) == []
    assert disassemble(b"", 0) == []


def test_bad_mode_and_empty_one():
    with pytest.raises(ValueError):
        disassemble(b"\x90", 0, bits=64)
    with pytest.raises(ValueError):
        disassemble_one(b"", 0)


# -- 16-bit wraparound -----------------------------------------------------------------------

def test_offsets_wrap_at_64k_in_16bit_code():
    insns = disassemble(bytes.fromhex("b8c00790909090"), 0xFFFE, linear_base=0x10000)
    assert [i.address for i in insns] == [0xFFFE, 0x0001, 0x0002, 0x0003, 0x0004]
    assert [i.linear for i in insns] == [0x1FFFE, 0x10001, 0x10002, 0x10003, 0x10004]
    assert insns[0].next_address == 0x0001


def test_offsets_do_not_wrap_at_64k_in_32bit_code():
    insns = disassemble(b"\x90\x90\x90", 0xFFFF, 32)
    assert [i.address for i in insns] == [0xFFFF, 0x10000, 0x10001]


def test_start_address_is_wrapped_too():
    assert disassemble(b"\x90", 0x17C00)[0].address == 0x7C00


# -- control flow ----------------------------------------------------------------------------

def test_calls():
    code = nasm("""
        call next
    next:
        call word [bx]
        call far [bx]
        call 0x1234:0x5678
        call ax
        call dword 0x20
        jmp next
        int 0x10
    """)
    insns = disassemble(code, 0)
    assert [i.is_call for i in insns] == [True] * 6 + [False, False]
    assert insns[3].far_target == (0x1234, 0x5678)
    assert insns[3].target is None
    assert insns[4].target is None  # indirect


def test_calls_32bit():
    code = nasm("call 0x20\ncall [eax]\ncall far [eax]\ncall 0x08:0x100000", bits=32)
    insns = disassemble(code, 0, 32)
    assert all(i.is_call for i in insns)
    assert insns[0].target == 0x20
    assert insns[3].far_target == (0x08, 0x100000)


def test_interrupts():
    insns = disassemble(nasm("int 0x10\nint3\ninto\nint1\nnop"), 0)
    assert [i.is_int for i in insns] == [True, True, True, True, False]
    assert [i.is_interrupt for i in insns] == [True, True, True, True, False]
    assert insns[0].text == "int 0x10"


def test_rep_string():
    code = nasm("""
        rep movsb
        repne scasb
        repe cmpsw
        rep stosd
        rep insb
        movsb
        pause
        rep ret
    """)
    insns = disassemble(code, 0)
    assert [i.is_rep_string for i in insns] == [True] * 5 + [False] * 3
    assert insns[-1].is_return


def test_returns():
    insns = disassemble(nasm("ret\nret 4\nretf\nretf 2\niret\niretd\ncall 0"), 0)
    assert [i.is_return for i in insns] == [True] * 6 + [False]


def test_branches_and_targets():
    code = nasm("""
    top:
        jmp short top
        jz top
        jnz near top
        loop top
        jcxz top
        jmp near far_away
        jmp word [bx]
        jmp 0xf000:0xfff0
        mov ax, 1
    far_away:
    """)
    insns = disassemble(code, 0x100)
    assert [i.is_branch for i in insns] == [True] * 8 + [False]
    assert [i.is_jump for i in insns] == [True] * 8 + [False]
    assert [i.target for i in insns[:5]] == [0x100] * 5
    assert insns[5].target == 0x100 + len(code)
    assert insns[6].target is None
    assert insns[7].far_target == (0xF000, 0xFFF0) and insns[7].target is None
    assert insns[0].text == "jmp 0x100"
    assert not insns[8].is_call and not insns[8].is_return and insns[8].target is None


def test_branch_targets_wrap_in_16bit_code():
    # At IP 0xFFF0, "jz +0x20" lands at 0x0012 in the same segment; capstone alone says 0x10012.
    insn = disassemble_one(bytes.fromhex("7420"), 0xFFF0)
    assert insn.target == 0x0012
    assert insn.op_str == "0x12"
    # A backwards near call from IP 0x0010 wraps below zero to the top of the segment.
    insn = disassemble_one(bytes.fromhex("e8ddff"), 0x0010)  # call -0x23
    assert insn.target == 0xFFF0 and insn.text == "call 0xfff0"
    # With an operand-size prefix the branch is 32-bit and EIP does not wrap (SDM: CALL).
    insn = disassemble_one(bytes.fromhex("66e810000000"), 0xFFF0)
    assert insn.target == 0x10006


def test_32bit_targets():
    insn = disassemble_one(bytes.fromhex("e9fbffffff"), 0x100000, 32)
    assert insn.target == 0x100000 and insn.text == "jmp 0x100000"
    # Operand-size prefix in 32-bit code makes a 16-bit branch that truncates EIP.
    insn = disassemble_one(bytes.fromhex("66e90000"), 0x100000, 32)
    assert insn.target == 0x0004


# -- format_line -----------------------------------------------------------------------------

def test_format_line_real_mode():
    insn = disassemble_one(bytes.fromhex("b8c007"), 0x7c00, linear_base=0)
    assert format_line(insn, cs=0) == "0000:7c00 (0x00007c00)  b8c007            mov ax, 0x7c0"
    assert (format_line(insn, cs=0, symbol="start", marker="=>")
            == "=> 0000:7c00 (0x00007c00)  b8c007            mov ax, 0x7c0  ; start")
    assert (format_line(insn, cs=0, marker="")
            == "   0000:7c00 (0x00007c00)  b8c007            mov ax, 0x7c0")


def test_format_line_without_segment():
    insn = disassemble_one(b"\x55", 0x101000, 32)
    assert format_line(insn) == "0x00101000  55                push ebp"
    insn = disassemble_one(b"\x55", 0x1000, 32, linear_base=0x100000)
    assert format_line(insn) == "0x00101000  55                push ebp"
    assert format_line(insn, cs=0x08).startswith("0008:00001000 (0x00101000)  55  ")


def test_format_line_long_instruction_keeps_a_gap():
    insn = disassemble_one(bytes.fromhex("66c787000178563412"), 0)  # 9 bytes
    line = format_line(insn, cs=0)
    assert "66c787000178563412  mov dword ptr [bx + 0x100], 0x12345678" in line
