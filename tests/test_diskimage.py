import pytest

from peripherals.diskimage import DiskImage, DiskImageError


def test_writes_go_to_the_overlay_and_never_touch_the_file(tmp_path):
    p = tmp_path / "d.img"
    p.write_bytes(bytes(range(256)) * 8)           # 4 sectors
    d = DiskImage(p)
    d.write(1, b"\xAA" * 512)
    assert d.read(1) == b"\xAA" * 512
    assert d.read(0) == (bytes(range(256)) * 2)
    d.close()
    assert p.read_bytes() == bytes(range(256)) * 8


def test_commit_writes_through(tmp_path):
    p = tmp_path / "d.img"
    p.write_bytes(bytes(2048))
    d = DiskImage(p, commit=True)
    d.write(3, b"\x55" * 512)
    d.close()
    assert p.read_bytes()[1536:] == b"\x55" * 512


def test_bad_images_are_clear_errors(tmp_path):
    with pytest.raises(DiskImageError, match="no such disk image"):
        DiskImage(tmp_path / "missing.img")
    (tmp_path / "e.img").write_bytes(b"")
    with pytest.raises(DiskImageError, match="empty"):
        DiskImage(tmp_path / "e.img")
    (tmp_path / "s.img").write_bytes(bytes(1024))
    d = DiskImage(tmp_path / "s.img")
    with pytest.raises(DiskImageError, match="beyond the image"):
        d.read(2)
