"""Machines by name (`cycle86 machine new|list|show|edit|rm`, core/machines.py) and the
disks' persistent overlays (peripherals/diskimage.py): a machine made with `machine new`
boots the platform tests' boot sector by name, and a guest's disk writes survive from one
run to the next while the image stays byte-identical."""
import hashlib
import struct

import pytest

from core import cli
from peripherals.diskimage import DiskImage, DiskImageError
from tests.asm import nasm
from tests.boot import EXIT_STATUS, boot_sector, floppy_image

# A boot sector that counts its boots on the disk: it reads CHS 0/0/2, adds one to its
# first byte, writes it back through int 13h and exits with that count
# (isa-debug-exit status (count << 1) | 1); 0x7F when the BIOS reports an error.
COUNTER_ASM = r"""
start:  cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        mov [0x7C00 + drive - start], dl
        mov ax, 0x0201
        mov cx, 0x0002
        xor dh, dh
        mov bx, 0x8000
        int 0x13
        jc fail
        inc byte [0x8000]
        mov ax, 0x0301
        mov cx, 0x0002
        xor dh, dh
        mov dl, [0x7C00 + drive - start]
        mov bx, 0x8000
        int 0x13
        jc fail
        mov al, [0x8000]
        out 0xF4, al
fail:   mov al, 0x7F
        out 0xF4, al
hang:   hlt
        jmp hang
drive:  db 0
        times 510 - ($ - start) db 0
        dw 0xAA55
"""


@pytest.fixture
def machines(tmp_path, monkeypatch):
    d = tmp_path / "machines"
    monkeypatch.setenv("CYCLE86_MACHINES", str(d))
    return d


def cycle86(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_list_show_edit_rm(machines, tmp_path, capsys):
    image = tmp_path / "a.img"
    image.write_bytes(floppy_image(boot_sector()))
    status, out, _ = cycle86(capsys, "machine", "new", "lab", "--machine", "isapc", "--cpu",
                             "80286", "--fpu", "287", "--memory", "1M", "--fda", str(image))
    assert status == 0 and "lab.toml" in out
    text = (machines / "lab.toml").read_text()
    assert 'cpu = "80286"' in text and 'fpu = "287"' in text and "memory = 1048576" in text
    assert 'fda = "%s"' % image in text and "lab.overlays" in text
    status, out, _ = cycle86(capsys, "machine", "list")
    assert status == 0 and out.split() == ["lab", "80286", "1M", "fda=a.img"]
    status, out, _ = cycle86(capsys, "machine", "show", "lab")
    assert "effective: machine isapc, cpu 80286 + 287, 1M RAM" in out
    status, _, _ = cycle86(capsys, "machine", "edit", "lab", "--memory", "2M", "--unset", "fpu")
    text = (machines / "lab.toml").read_text()
    assert status == 0 and "memory = 2097152" in text and "fpu" not in text
    status, out, _ = cycle86(capsys, "machine", "rm", "lab")
    assert status == 0 and not (machines / "lab.toml").exists()
    assert image.exists()                                  # never a disk image


@pytest.mark.parametrize("argv,words", [
    (["machine", "new", "no/slash"], "not a machine name"),
    (["machine", "show", "ghost"], "no machine 'ghost'"),
    (["machine", "rm", "ghost"], "no machine 'ghost'"),
    (["machine", "new", "x", "--fda", "/nonexistent.img"], "--fda /nonexistent.img: no such"),
    (["machine", "new", "x", "--cpu", "80286", "--fpu", "387"], "the 80286 takes 287"),
    (["machine", "edit", "ghost", "--memory", "1M"], "no machine 'ghost'")])
def test_bad_input_is_one_line_naming_it(machines, capsys, argv, words):
    status, _, err = cycle86(capsys, *argv)
    assert status == 2 and words in err and err.count("\n") == 1


def test_new_refuses_to_overwrite(machines, capsys):
    assert cycle86(capsys, "machine", "new", "m", "--memory", "1M")[0] == 0
    status, _, err = cycle86(capsys, "machine", "new", "m", "--memory", "2M")
    assert status == 2 and "exists" in err
    assert cycle86(capsys, "machine", "new", "m", "--memory", "2M", "--force")[0] == 0
    assert "memory = 2097152" in (machines / "m.toml").read_text()


def test_a_new_machine_boots_the_boot_sector_by_name(machines, tmp_path, capsys):
    image = tmp_path / "boot.img"
    image.write_bytes(floppy_image(boot_sector()))
    assert cycle86(capsys, "machine", "new", "bootme", "--machine", "isapc",
                   "--fda", str(image))[0] == 0
    status, out, _ = cycle86(capsys, "run", "bootme", "--max-cycles", "400M")
    assert status == EXIT_STATUS
    assert "cycle86 boot sector OK dl=00" in out


def test_disk_writes_persist_between_runs_and_the_image_stays(machines, tmp_path, capsys):
    image = tmp_path / "counter.img"
    image.write_bytes(floppy_image(nasm(COUNTER_ASM)))
    before = digest(image)
    assert cycle86(capsys, "machine", "new", "counter", "--machine", "isapc",
                   "--fda", str(image))[0] == 0
    for count in (1, 2, 3):
        status, _, _ = cycle86(capsys, "run", "counter", "--max-cycles", "400M")
        assert status == (count << 1) | 1
    assert digest(image) == before
    assert (machines / "counter.overlays" / "fda.overlay").is_file()
    # Dropping the overlays starts the count again; so does a machine without them.
    assert cycle86(capsys, "machine", "edit", "counter", "--discard-overlays")[0] == 0
    assert cycle86(capsys, "run", "counter", "--max-cycles", "400M")[0] == 3
    assert cycle86(capsys, "machine", "new", "volatile", "--machine", "isapc", "--no-overlays",
                   "--fda", str(image))[0] == 0
    for _ in range(2):
        assert cycle86(capsys, "run", "volatile", "--max-cycles", "400M")[0] == 3
    # A new image for a slot drops that slot's overlay: it belonged to the old image.
    other = tmp_path / "other.img"
    other.write_bytes(image.read_bytes())
    assert cycle86(capsys, "run", "counter", "--max-cycles", "400M")[0] == 5
    status, out, _ = cycle86(capsys, "machine", "edit", "counter", "--fda", str(other))
    assert "dropped the overlays of fda" in out
    assert cycle86(capsys, "run", "counter", "--max-cycles", "400M")[0] == 3
    assert digest(image) == before and digest(other) == before


def test_overlay_journal_format(tmp_path):
    image = tmp_path / "d.img"
    image.write_bytes(bytes(8 * 512))
    journal = tmp_path / "d.overlay"
    d = DiskImage(image, overlay_file=journal)
    d.write(3, b"\x11" * 512)
    d.write(3, b"\x22" * 512)
    d.write(5, b"\x33" * 1024)
    d.close()
    raw = journal.read_bytes()
    assert raw[:8] == b"C86OVL1\0" and struct.unpack_from("<IQ", raw, 8) == (512, 4096)
    assert len(raw) == 20 + 4 * (8 + 512)
    # A crash in the middle of a record: the short record is dropped, the rest replayed.
    journal.write_bytes(raw + struct.pack("<Q", 1) + b"\x44" * 100)
    d = DiskImage(image, overlay_file=journal)
    assert d.read(3) == b"\x22" * 512 and d.read(5, 2) == b"\x33" * 1024
    assert d.read(1) == bytes(512)
    d.close()
    assert len(journal.read_bytes()) == len(raw)
    assert image.read_bytes() == bytes(8 * 512)


@pytest.mark.parametrize("damage,words", [
    (lambda raw: b"NOTOVL!\0" + raw[8:], "not a cycle86 disk overlay"),
    (lambda raw: raw[:8] + struct.pack("<IQ", 512, 8192) + raw[20:], "made for a 8192-byte"),
    (lambda raw: raw[:20] + struct.pack("<Q", 99) + raw[28:], "names sector 99")])
def test_damaged_journal_is_refused_by_name(tmp_path, damage, words):
    image = tmp_path / "d.img"
    image.write_bytes(bytes(8 * 512))
    journal = tmp_path / "d.overlay"
    d = DiskImage(image, overlay_file=journal)
    d.write(0, b"\x55" * 512)
    d.close()
    journal.write_bytes(damage(journal.read_bytes()))
    with pytest.raises(DiskImageError, match=words) as e:
        DiskImage(image, overlay_file=journal)
    assert str(journal) in str(e.value)


def test_hand_written_machine_files_are_read_by_the_rules_of_run(machines, capsys):
    """A machine file written by hand may say memory = "4M" (as `cycle86 run FILE`
    accepts); `machine list` and `machine show` failed with an internal TypeError on it,
    and on a value of the wrong type.  Found by the fuzz harness (issue 15)."""
    machines.mkdir()
    (machines / "lab.toml").write_text('machine = "isapc"\nmemory = "4M"\ncpu = "386"\n')
    (machines / "bad.toml").write_text("memory = [1]\nfda = 5\n")
    status, out, err = cycle86(capsys, "machine", "list")
    assert status == 0, err
    rows = out.splitlines()
    assert rows[1].split() == ["lab", "80386", "4M", "-"]
    assert rows[0].startswith("bad") and "bad.toml: memory" in rows[0]
    status, out, err = cycle86(capsys, "machine", "show", "lab")
    assert status == 0 and "cpu 80386, 4M RAM" in out
    status, out, err = cycle86(capsys, "machine", "show", "bad")
    assert status == 2 and str(machines / "bad.toml") in err and err.count("\n") == 1
