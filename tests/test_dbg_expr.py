"""debugger/expr.py: the expression language of breakpoint conditions, set, print and addresses."""
import pytest

from debugger import expr
from debugger.expr import ExprError, SimpleEnv, compile_assignment, evaluate, register_parts

MEMORY = bytearray(0x10000)
MEMORY[0x500:0x508] = bytes.fromhex("78563412efbeadde")
MEMORY[0x7C10:0x7C12] = b"MZ"
MEMORY[0x7DFE:0x7E00] = b"\x55\xaa"


def make_env(**kw):
    registers = {
        "eax": 0x1234ABCD, "ebx": 0x500, "ecx": 3, "edx": 0, "esi": 0x10, "edi": 0xFFFF,
        "ebp": 0, "esp": 0xFFFE, "eip": 0x7C00, "eflags": 0x0246,  # ZF PF IF + bit 1
        "cs": 0, "ds": 0x7C0, "es": 0, "ss": 0, "fs": 0, "gs": 0, "cr0": 0x10,
    }
    registers.update(kw)
    return SimpleEnv(registers, MEMORY, {"start": 0x7C00, "buf.end": 0x500, "_x": 1})


ENV = make_env()


def ev(text, env=ENV):
    return evaluate(text, env)


def error(text, env=ENV):
    with pytest.raises(ExprError) as info:
        evaluate(text, env)
    return info.value


# -- numbers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("0x1F", 0x1F), ("0X1f", 0x1F), ("1Fh", 0x1F), ("0FFFFh", 0xFFFF), ("0bh", 0xB),
    ("10", 10), ("010", 10), ("0", 0), ("0b1010", 10), ("0B11", 3),
    ("'A'", 0x41), ("'MZ'", 0x5A4D), ("'\\n'", 10), ("'\\''", 0x27),
    ("4294967295", 0xFFFFFFFF), ("0x100000000", 0),  # everything is 32-bit
])
def test_numbers(text, value):
    assert ev(text) == value


@pytest.mark.parametrize("text", ["0x", "12q", "0b102", "1_000", "''", "'ABCDE'", "0x1Fh"])
def test_bad_numbers(text):
    e = error(text)
    assert e.column == 1


# -- operators -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3), ("100 / 10 / 5", 2),
    ("17 % 5", 2), ("1 << 4 + 1", 32), ("0x100 >> 4", 0x10), ("1 < 2 == 1", 1),
    ("1 | 2 ^ 3 & 4", 1 | (2 ^ (3 & 4))), ("6 & 3 == 2", 0), ("2 + 3 == 5 && 1", 1),
    ("0 || 0", 0), ("0 || 7", 1), ("3 && 4", 1), ("0 && 1", 0), ("1 || 0 && 0", 1),
    ("-1", 0xFFFFFFFF), ("~0", 0xFFFFFFFF), ("!0", 1), ("!5", 0), ("- -3", 3), ("+4", 4),
    ("-1 < 0", 0), ("-1 > 0", 1), ("0xFFFFFFFF + 1", 0), ("0x80000000 * 2", 0),
    ("2 - 3", 0xFFFFFFFF), ("-7 / 2", 0x7FFFFFFC), ("1 << 32", 0), ("1 << 0xFFFFFFFF", 0),
    ("0xFFFFFFFF >> 40", 0), ("3 >= 3", 1), ("3 <= 2", 0), ("3 != 3", 0),
])
def test_operators_follow_c_precedence_on_unsigned_32_bit_values(text, value):
    assert ev(text) == value


def test_logical_operators_short_circuit():
    # The right side would read unmapped memory: it must not be evaluated.
    assert ev("0 && byte [0x12345678]") == 0
    assert ev("1 || byte [0x12345678]") == 1
    assert error("1 && byte [0x12345678]").message.startswith("cannot read memory at 0x12345678")


def test_division_by_zero():
    e = error("1 + 5 / (ax - ax)")
    assert e.message == "division by zero at column 7" and e.column == 7 and e.token == "/"
    assert error("5 % 0").column == 3


# -- registers -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("eax", 0x1234ABCD), ("ax", 0xABCD), ("al", 0xCD), ("ah", 0xAB), ("EAX", 0x1234ABCD),
    ("Ah", 0xAB), ("bl", 0), ("bh", 5), ("cx", 3), ("di", 0xFFFF), ("sp", 0xFFFE),
    ("eip", 0x7C00), ("ip", 0x7C00), ("eflags", 0x246), ("flags", 0x246), ("ds", 0x7C0),
    ("cr0", 0x10), ("zf", 1), ("pf", 1), ("if", 1), ("IF", 1), ("if_", 1), ("cf", 0),
    ("sf", 0), ("of", 0), ("df", 0), ("tf", 0), ("af", 0), ("iopl", 0),
    ("$eax", 0x1234ABCD), ("$pc", 0x7C00), ("$sp", 0xFFFE), ("$ps", 0x246), ("$if", 1),
])
def test_registers(text, value):
    assert ev(text) == value


def test_condition_from_the_brief():
    env = make_env(eax=0x55AA)
    cond = expr.compile('ax == 0x55aa && byte [0x500] != 0')
    assert cond.evaluate(env) == 1
    assert cond.evaluate(make_env(eax=0x55AB)) == 0
    assert cond.text == 'ax == 0x55aa && byte [0x500] != 0'


def test_register_missing_from_the_env():
    e = error("cr4 + 1")
    assert e.message == "register 'cr4' is not available" and e.column == 1


def test_unknown_dollar_register_is_a_syntax_error():
    with pytest.raises(ExprError) as info:
        expr.compile("1 + $foo")
    assert info.value.column == 5 and info.value.token == "$foo"


def test_env_can_supply_sub_registers_itself():
    class CpuEnv:
        def register(self, name):
            return {"ax": 0x1234, "zf": 1}[name]

        def read_memory(self, address, size):
            raise RuntimeError("no memory")

    assert evaluate("ax + zf", CpuEnv()) == 0x1235
    # A value wider than the register is cut to the register's width.
    assert evaluate("al", SimpleEnv({"al": 0x1FF})) == 0xFF


def test_register_parts():
    assert register_parts("ah") == ("eax", 8, 8)
    assert register_parts("SI") == ("esi", 0, 16)
    assert register_parts("flags") == ("eflags", 0, 16)
    assert register_parts("if_") == ("eflags", 9, 1)
    assert register_parts("iopl") == ("eflags", 12, 2)
    assert register_parts("gs") == ("gs", 0, 16)
    with pytest.raises(KeyError):
        register_parts("rax")
    assert {"eax", "al", "dr7", "cr3", "of", "if"} <= expr.REGISTER_NAMES


# -- symbols ---------------------------------------------------------------------------------

def test_symbols():
    assert ev("start") == 0x7C00
    assert ev("start + 0x10") == 0x7C10
    assert ev("buf.end") == 0x500
    assert ev("_x") == 1


def test_unknown_symbol():
    e = error("1 + foo")
    assert e.message == "unknown symbol or register 'foo'"
    assert e.column == 5 and e.token == "foo"


def test_symbols_are_resolved_at_evaluation_time():
    cond = expr.compile("later == 5")  # not known yet: no error when compiling
    env = make_env()
    env.symbols["later"] = 5
    assert cond.evaluate(env) == 1


def test_symbol_table_as_symbol_source():
    from debugger.symbols import SymbolTable
    table = SymbolTable()
    table.add("kmain", 0x101000)
    assert evaluate("kmain + 4", SimpleEnv(symbols=table)) == 0x101004


def test_registers_shadow_symbols():
    env = SimpleEnv({"eax": 1}, symbols={"ax": 99, "word": 7})
    assert evaluate("ax", env) == 1
    assert evaluate("word + 1", env) == 8  # a size keyword only in front of a memory operand


# -- seg:off ---------------------------------------------------------------------------------

def test_seg_off_is_real_mode_linear_by_default():
    assert ev("0x07c0:0x0010") == 0x7C10
    assert ev("ds:si") == 0x7C10
    assert ev("0xFFFF:0x10") == 0x100000  # no A20 masking here: that is the env's business
    # ':' binds tighter than binary operators: (ds:si) + 1; parenthesise the offset to wrap it
    assert ev("ds:si + 1") == 0x7C11
    assert ev("ds:(si + 1)") == 0x7C11
    assert ev("ax == 0x7c0:0x10") == 0


def test_seg_off_through_the_env():
    # A protected-mode env maps selectors through descriptor bases.
    bases = {0x08: 0x100000, 0x10: 0x200000}
    env = make_env()
    env.seg_to_linear = lambda seg, off: bases[seg] + off
    assert evaluate("0x08:0x20", env) == 0x100020
    assert evaluate("0x10:0", env) == 0x200000


def test_env_without_seg_to_linear_or_symbol():
    class Bare:
        def register(self, name):
            raise KeyError(name)

        def read_memory(self, address, size):
            return 0

    assert evaluate("0x7c0:0x10", Bare()) == 0x7C10
    assert evaluate("[0]", Bare()) == 0
    with pytest.raises(ExprError):
        evaluate("start", Bare())


def test_seg_off_is_not_associative():
    e = error("1:2:3")
    assert e.column == 4 and e.token == ":"


# -- memory ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("byte [0x500]", 0x78), ("word [0x500]", 0x5678), ("dword [0x500]", 0x12345678),
    ("[0x500]", 0x12345678), ("[0x504]", 0xDEADBEEF), ("BYTE [0x501]", 0x56),
    ("byte ptr [0x500]", 0x78), ("word ptr [bx + 2]", 0x1234), ("byte [ebx] + 1", 0x79),
    ("*0x500", 0x12345678), ("*(0x500 + 4)", 0xDEADBEEF), ("*bx", 0x12345678),
    ("[0x7c0:0x10]", None), ("word [ds:si]", 0x5A4D), ("word ds:[si]", 0x5A4D),
    ("word ptr ds:[si]", 0x5A4D), ("ds:[si] & 0xffff", 0x5A4D), ("word [0x7dfe] == 0xaa55", 1),
    ("word [0x7c10] == 'MZ'", 1), ("byte [byte [0x500] + 0x488]", 0x78),
])
def test_memory(text, value):
    if value is None:
        value = int.from_bytes(MEMORY[0x7C10:0x7C14], "little")
    assert ev(text) == value


def test_bare_brackets_read_the_envs_default_size():
    env = make_env()
    env.default_size = 2
    assert evaluate("[0x500]", env) == 0x5678
    assert evaluate("*0x500", env) == 0x12345678  # gdb-style * is always a dword


def test_memory_read_failure():
    e = error("byte [0x500] + word [0x20000]")
    assert e.message.startswith("cannot read memory at 0x20000")
    assert e.column == 21

    class Faulting(SimpleEnv):
        def read_memory(self, address, size):
            raise RuntimeError("page fault")

    with pytest.raises(ExprError, match=r"cannot read memory at 0x1000 \(page fault\)"):
        evaluate("[0x1000]", Faulting())


# -- syntax errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, column, token", [
    ("1 +", 4, None),
    ("(1 + 2", 7, None),
    ("1 + 2)", 6, ")"),
    ("ax = 1", 4, "="),
    ("ax == == 1", 7, "=="),
    ("1 2", 3, "2"),
    ("byte [1", 8, None),
    ("[1", 3, None),
    ("1 # 2", 3, "#"),
    ("", 1, None),
    ("   ", 4, None),
    ("word ds:si", 9, "si"),
    ("ax & & bx", 6, "&"),
    ("*", 2, None),
])
def test_syntax_errors_carry_column_and_token(text, column, token):
    with pytest.raises(ExprError) as info:
        expr.compile(text)
    e = info.value
    assert (e.column, e.token) == (column, token), str(e)
    assert "column %d" % column in str(e)


def test_error_messages_read_well():
    def msg(text):
        with pytest.raises(ExprError) as info:
            expr.compile(text)
        return str(info.value)

    assert msg("1 +") == "unexpected end of expression at column 4"
    assert msg("(1") == "expected ')' at column 3, found end of expression"
    assert msg("ax = 1") == "unexpected '=' at column 4 (use == to compare)"
    assert msg("1 $") == "unexpected character '$' at column 3"
    assert msg("0x") == "bad number '0x' at column 1"


def test_caret():
    with pytest.raises(ExprError) as info:
        expr.compile("ax == 1 +")
    assert info.value.caret() == "ax == 1 +\n         ^"


# -- API -------------------------------------------------------------------------------------

def test_compile_once_evaluate_many():
    cond = expr.compile("ecx == 0")
    assert [cond.evaluate(make_env(ecx=n)) for n in (2, 1, 0)] == [0, 0, 1]
    assert repr(cond) == "Expression('ecx == 0')"
    assert str(cond) == "ecx == 0"


def test_compile_assignment():
    name, value = compile_assignment("ax = bx + 1")
    assert name == "ax" and value.evaluate(ENV) == 0x501 and value.text == "bx + 1"
    assert compile_assignment("$pc=0x7c00")[0] == "eip"
    assert compile_assignment("IF = 0")[0] == "if"
    assert compile_assignment("eflags = eflags | 1")[1].evaluate(ENV) == 0x247
    with pytest.raises(ExprError) as info:
        compile_assignment("ax = bx +")
    assert info.value.column == 10 and info.value.caret().endswith("\n         ^")
    with pytest.raises(ExprError, match="unknown register 'foo'"):
        compile_assignment("foo = 1")
    with pytest.raises(ExprError):
        compile_assignment("ax == 1")


def test_no_python_eval():
    # Python syntax and names mean nothing here.
    for text in ("__import__('os')", "1 if 1 else 2", "[1, 2]", "1 // 2", "not 1", "True"):
        with pytest.raises(ExprError):
            evaluate(text, ENV)


def test_examples_in_the_documentation_compile():
    import os
    import re
    doc = os.path.join(os.path.dirname(__file__), "..", "docs", "debugger-expressions.md")
    with open(doc) as f:
        text = f.read()
    block = re.search(r"## Examples\n\n```\n(.*?)```", text, re.S).group(1)
    examples = block.strip().splitlines()
    assert len(examples) >= 5
    env = make_env(esp=0xFFF0)
    for line in examples:
        assert expr.compile(line).evaluate(env) in (0, 1), line
