"""Disk images for the floppy, ATA and ATAPI models, with a copy-on-write overlay.

The user's image file is opened read-only unless they ask to commit writes: guest writes
land in an overlay of changed sectors, so a crash (or a guest gone wrong) never corrupts
the image.  `commit=True` writes each changed sector through to the file.

The overlay lives in memory, or, given `overlay_file` (a named machine's disks, `cycle86
machine`), also in a journal on disk that outlives the run, so the guest finds its writes
again next time while the image itself stays untouched.  The journal's format:

    header  8 bytes  b"C86OVL1\0"
            4 bytes  sector size (little-endian)
            8 bytes  the image's size in bytes when the journal was started
    then    records of an 8-byte sector number and one sector of data, in write order;
            a later record of a sector replaces an earlier one.

A record is appended (and flushed) for every sector the guest writes, so a host crash
loses at most the record being written: a short record at the end is dropped when the
journal is next opened.  A journal for a different image size or sector size, or with a
bad header, is refused with a message naming it.
"""
import os
import struct

OVERLAY_MAGIC = b"C86OVL1\0"
_OVERLAY_HEADER = struct.Struct("<8sIQ")
_RECORD_SECTOR = struct.Struct("<Q")


class DiskImageError(Exception):
    """A missing, unreadable or malformed image; the message names the file."""


class DiskImage:
    SECTOR = 512

    def __init__(self, path, commit=False, read_only=False, sector_size=512, overlay_file=None):
        self.path = os.fspath(path)
        self.commit = commit and not read_only
        self.read_only = read_only
        self.sector_size = sector_size
        try:
            self._file = open(self.path, "r+b" if self.commit else "rb")
        except FileNotFoundError:
            raise DiskImageError("%s: no such disk image" % self.path) from None
        except OSError as e:
            raise DiskImageError("%s: cannot open disk image: %s" % (self.path, e.strerror)) from None
        self._file.seek(0, os.SEEK_END)
        self.size = self._file.tell()
        if self.size == 0:
            self._file.close()
            raise DiskImageError("%s: the disk image is empty" % self.path)
        self.overlay = {}            # sector number -> bytes (copy-on-write)
        self.overlay_file = None
        self._journal = None
        if overlay_file is not None and not self.commit and not read_only:
            self.overlay_file = os.fspath(overlay_file)
            try:
                self._open_journal()
            except BaseException:
                self._file.close()
                raise

    def _open_journal(self):
        path, ss = self.overlay_file, self.sector_size
        header = _OVERLAY_HEADER.pack(OVERLAY_MAGIC, ss, self.size)
        try:
            j = open(path, "r+b") if os.path.exists(path) else open(path, "w+b")
        except OSError as e:
            raise DiskImageError("%s: cannot open the overlay of %s: %s"
                                 % (path, self.path, e.strerror)) from None
        data = j.read()
        if not data:
            j.write(header)
            j.flush()
            self._journal = j
            return
        if len(data) < _OVERLAY_HEADER.size or data[:8] != OVERLAY_MAGIC:
            j.close()
            raise DiskImageError("%s: not a cycle86 disk overlay (bad header)" % path)
        _, jss, jsize = _OVERLAY_HEADER.unpack_from(data)
        if jss != ss or jsize != self.size:
            j.close()
            raise DiskImageError("%s: the overlay was made for a %d-byte image of %d-byte "
                                 "sectors; %s is %d bytes of %d-byte sectors"
                                 % (path, jsize, jss, self.path, self.size, ss))
        pos, step = _OVERLAY_HEADER.size, _RECORD_SECTOR.size + ss
        while pos + step <= len(data):
            sector = _RECORD_SECTOR.unpack_from(data, pos)[0]
            if sector >= self.sectors:
                j.close()
                raise DiskImageError("%s: record at offset %d names sector %d, beyond the "
                                     "image's %d" % (path, pos, sector, self.sectors))
            self.overlay[sector] = data[pos + _RECORD_SECTOR.size:pos + step]
            pos += step
        if pos != len(data):
            j.truncate(pos)             # a record cut short by a crash: it never landed
        j.seek(pos)
        self._journal = j

    @property
    def sectors(self):
        return self.size // self.sector_size

    def read(self, sector, count=1):
        """`count` sectors from `sector`; reads past the end are an error."""
        if sector < 0 or sector + count > self.sectors:
            raise DiskImageError("%s: read of sectors %d..%d is beyond the image (%d sectors)"
                                 % (self.path, sector, sector + count - 1, self.sectors))
        out = bytearray()
        ss = self.sector_size
        for s in range(sector, sector + count):
            data = self.overlay.get(s)
            if data is None:
                self._file.seek(s * ss)
                data = self._file.read(ss)
            out += data
        return bytes(out)

    def write(self, sector, data):
        """Write whole sectors at `sector` (into the overlay unless committing)."""
        ss = self.sector_size
        if len(data) % ss:
            raise ValueError("a write of %d bytes is not whole %d-byte sectors" % (len(data), ss))
        count = len(data) // ss
        if self.read_only:
            raise DiskImageError("%s: the medium is read-only" % self.path)
        if sector < 0 or sector + count > self.sectors:
            raise DiskImageError("%s: write of sectors %d..%d is beyond the image (%d sectors)"
                                 % (self.path, sector, sector + count - 1, self.sectors))
        for i in range(count):
            chunk = bytes(data[i * ss:(i + 1) * ss])
            if self.commit:
                self._file.seek((sector + i) * ss)
                self._file.write(chunk)
            else:
                self.overlay[sector + i] = chunk
                if self._journal is not None:
                    self._journal.write(_RECORD_SECTOR.pack(sector + i) + chunk)
        if self.commit:
            self._file.flush()
        elif self._journal is not None:
            self._journal.flush()

    def close(self):
        self._file.close()
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def get_state(self):
        return {"path": self.path, "overlay": dict(self.overlay)}

    def set_state(self, state):
        overlay = dict(state.get("overlay", {}))
        if self._journal is not None and overlay != self.overlay:
            # The journal must say what the restored overlay holds, or the next run of a
            # named machine would find writes from a future that was undone.
            header = _OVERLAY_HEADER.pack(OVERLAY_MAGIC, self.sector_size, self.size)
            records = b"".join(_RECORD_SECTOR.pack(sector) + data
                               for sector, data in sorted(overlay.items()))
            self._journal.seek(0)
            self._journal.write(header + records)
            self._journal.truncate()
            self._journal.flush()
        self.overlay = overlay
