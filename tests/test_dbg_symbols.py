"""debugger/symbols.py: ELF symbols, Bochs ldsym files and System.map, nearest-symbol lookup."""
import bisect
import random
import shutil
import subprocess

import pytest

from debugger.symbols import Symbol, SymbolError, SymbolTable

KERNEL = """
bits 32
global _start
global kmain:function (kmain.end - kmain)
global ticks:data 4
extern undefined_elsewhere
VIDEO equ 0xB8000              ; an absolute constant, not an address
section .text
_start: mov esp, 0x90000
        call kmain
.hang:  hlt
        jmp .hang
kmain:  push ebp
        mov ebp, esp
        pop ebp
        ret
.end:
helper: ret                    ; local label
        dd undefined_elsewhere
section .data
ticks:  dd 0
"""


def tool(name):
    exe = shutil.which(name)
    if exe is None:
        pytest.skip("%s is not installed" % name)
    return exe


def build(tmp_path, source, link=("-Ttext=0x100000",), name="kernel"):
    """Assemble with nasm -f elf32; link with ld -m elf_i386 unless link is None."""
    src = tmp_path / (name + ".asm")
    obj = tmp_path / (name + ".o")
    src.write_text(source)
    subprocess.run([tool("nasm"), "-f", "elf32", "-o", str(obj), str(src)], check=True)
    if link is None:
        return obj
    out = tmp_path / (name + ".elf")
    subprocess.run([tool("ld"), "-m", "elf_i386", *link, "-o", str(out), str(obj)], check=True,
                   capture_output=True)
    return out


# -- ELF -------------------------------------------------------------------------------------

@pytest.fixture
def kernel(tmp_path):
    return build(tmp_path, KERNEL, ("-Ttext=0x100000", "--unresolved-symbols=ignore-all"))


def test_load_elf(kernel):
    table = SymbolTable()
    count = table.load_elf(str(kernel))
    assert count == len(table)
    assert table.lookup("_start") == 0x100000
    kmain = table.get("kmain")
    # mov esp, imm32 (5) + call rel32 (5) + hlt (1) + jmp short (2)
    assert kmain == Symbol("kmain", 0x10000D, 5, str(kernel))  # push, mov, pop, ret
    assert table.lookup("_start.hang") == 0x10000A  # NASM names local labels parent.local
    assert table.lookup("helper") == 0x100012       # local (STB_LOCAL) labels are kept
    assert table.get("ticks").size == 4
    assert table.lookup("VIDEO") is None            # SHN_ABS: a constant
    assert table.lookup("undefined_elsewhere") is None
    assert "kernel.asm" not in table.names()        # STT_FILE
    assert table.format(0x10000F) == "kmain+0x2"
    assert table.format(0x100000) == "_start"


def test_load_elf_with_offset(kernel):
    table = SymbolTable()
    table.load_elf(str(kernel), offset=0x1000)
    assert table.lookup("kmain") == 0x10100D


def test_load_elf_relocatable_object(tmp_path):
    # In a .o the values are section offsets; symbols at offset 0 have address 0 and are
    # skipped, like every symbol at address 0.
    obj = build(tmp_path, KERNEL, link=None)
    table = SymbolTable()
    table.load_elf(str(obj), offset=0x7C00)
    assert table.lookup("kmain") == 0x7C00 + 0xD
    assert table.lookup("_start") is None


def test_load_elf_falls_back_to_dynsym(tmp_path):
    lib = build(tmp_path, KERNEL.replace("extern undefined_elsewhere", "")
                .replace("dd undefined_elsewhere", "nop"), ("-shared",), name="lib")
    stripped = tmp_path / "stripped.so"
    subprocess.run([tool("strip"), str(lib), "-o", str(stripped)], check=True)
    table = SymbolTable()
    table.load_elf(str(stripped))
    assert table.get("kmain").size == 5
    assert "ticks" in table
    assert "helper" not in table  # locals are not in .dynsym


def test_elf_errors(tmp_path, kernel):
    table = SymbolTable()
    with pytest.raises(SymbolError, match="nothere.elf: cannot open"):
        table.load_elf(str(tmp_path / "nothere.elf"))
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(SymbolError, match="notes.txt: not an ELF file"):
        table.load_elf(str(text))
    cut = tmp_path / "cut.elf"
    cut.write_bytes(kernel.read_bytes()[:200])
    with pytest.raises(SymbolError, match="cut.elf"):
        table.load_elf(str(cut))
    stripped = tmp_path / "stripped.elf"
    subprocess.run([tool("strip"), str(kernel), "-o", str(stripped)], check=True)
    with pytest.raises(SymbolError, match="stripped.elf: no symbol table"):
        table.load_elf(str(stripped))
    assert len(table) == 0


# -- Bochs ldsym and System.map --------------------------------------------------------------

def test_load_bochs(tmp_path):
    path = tmp_path / "boot.sym"
    path.write_text("# boot sector\n\n7c00 start\n7c3e print_string\n0x7d00 disk_error\n"
                    "   7dfe   signature  \n")
    table = SymbolTable()
    assert table.load_bochs(str(path)) == 4
    assert table.lookup("start") == 0x7C00
    assert table.lookup("disk_error") == 0x7D00
    assert table.lookup("signature") == 0x7DFE
    assert table.get("start").source == str(path)
    assert table.format(0x7C40) == "print_string+0x2"


def test_load_bochs_offset(tmp_path):
    path = tmp_path / "b.sym"
    path.write_text("10 a\n")
    table = SymbolTable()
    table.load_bochs(str(path), offset=0x7C00)
    assert table.lookup("a") == 0x7C10


def test_load_system_map(tmp_path):
    path = tmp_path / "System.map"
    path.write_text("00000000 A VDSO32_PRELINK\n"
                    "c0100000 T _text\n"
                    "c0100000 T startup_32\n"
                    "c0101000 t early_idt_handler\n"
                    "c0200000 D init_task\n"
                    "c0300000 N debug_entry\n")
    table = SymbolTable()
    assert table.load_bochs(str(path)) == 4
    assert table.lookup("VDSO32_PRELINK") is None and table.lookup("debug_entry") is None
    assert table.lookup("early_idt_handler") == 0xC0101000
    # Two names at one address: the first one added names it.
    assert table.format(0xC0100010) == "_text+0x10"


def test_load_kallsyms_and_mixed_lines(tmp_path):
    path = tmp_path / "mixed"
    path.write_text("c0100000 T _text\n"
                    "f8000000 t ext4_init [ext4]\n"
                    "7c00 bochs_style\n")
    table = SymbolTable()
    assert table.load_bochs(str(path)) == 3
    assert table.lookup("ext4_init") == 0xF8000000
    assert table.lookup("bochs_style") == 0x7C00


@pytest.mark.parametrize("content, lineno, what", [
    ("7c00 ok\nzz12 bad\n", 2, "bad hex address 'zz12'"),
    ("7c00 ok\n\n# c\n7c01 too many fields here\n", 4, "expected 'ADDRESS NAME'"),
    ("justonefield\n", 1, "expected 'ADDRESS NAME'"),
    ("c0100000 TT name\n", 1, "expected 'ADDRESS NAME'"),
])
def test_bad_symbol_lines(tmp_path, content, lineno, what):
    path = tmp_path / "bad.sym"
    path.write_text(content)
    with pytest.raises(SymbolError) as info:
        SymbolTable().load_bochs(str(path))
    assert str(info.value).startswith("%s:%d: " % (path, lineno))
    assert what in str(info.value)


def test_missing_symbol_file(tmp_path):
    with pytest.raises(SymbolError, match="nothere.sym: cannot open"):
        SymbolTable().load_bochs(str(tmp_path / "nothere.sym"))


# -- lookups ---------------------------------------------------------------------------------

def test_nearest_and_format():
    table = SymbolTable()
    table.add("b", 0x2000, size=0x10)
    table.add("a", 0x1000)
    assert table.nearest(0xFFF) is None and table.format(0xFFF) == ""
    assert table.nearest(0x1000) == ("a", 0)
    assert table.nearest(0x1FFF) == ("a", 0xFFF)
    assert table.nearest(0x2004) == ("b", 4)
    # Beyond the symbol's size it is still the nearest, gdb style.
    assert table.nearest(0x2100) == ("b", 0x100)
    assert table.format(0x2100) == "b+0x100" and table.format(0x2000) == "b"
    assert table.nearest(0x2100, max_offset=0xFF) is None
    assert table.format(0x2100, max_offset=0x100) == "b+0x100"


def test_same_address_prefers_a_sized_symbol_then_the_first():
    table = SymbolTable()
    table.add("label", 0x100)
    table.add("func", 0x100, size=8)
    table.add("alias", 0x100, size=8)
    assert table.format(0x104) == "func+0x4"


def test_add_replaces_and_table_stays_consistent():
    table = SymbolTable()
    table.add("x", 0x100)
    assert table.format(0x100) == "x"
    table.add("x", 0x200)   # moved: the old address no longer names it
    table.add("y", 0x50)
    assert table.lookup("x") == 0x200
    assert table.format(0x100) == "y+0xb0"
    assert len(table) == 2 and table.names() == ["x", "y"] and "x" in table
    assert [s.name for s in table.symbols()] == ["y", "x"]
    table.clear()
    assert len(table) == 0 and table.nearest(0x200) is None and table.lookup("x") is None
    with pytest.raises(ValueError):
        table.add("", 1)


def test_a_hundred_thousand_symbols(tmp_path):
    rng = random.Random(5)
    addresses = sorted(rng.sample(range(0xC0000000, 0xC1000000, 4), 100_000))
    path = tmp_path / "System.map"
    with open(path, "w") as f:
        for i, a in enumerate(addresses):
            f.write("%08x %s sym_%d\n" % (a, "Tt"[i % 2], i))
    table = SymbolTable()
    assert table.load_bochs(str(path)) == 100_000
    for _ in range(2000):
        probe = rng.randrange(0xBFFFFF00, 0xC1000100)
        i = bisect.bisect_right(addresses, probe) - 1
        expected = None if i < 0 else ("sym_%d" % i, probe - addresses[i])
        assert table.nearest(probe) == expected
    assert table.lookup("sym_99999") == addresses[-1]
