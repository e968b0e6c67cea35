"""Disk images for the floppy, ATA and ATAPI models, with a copy-on-write overlay.

The user's image file is opened read-only unless they ask to commit writes: guest writes
land in an in-memory overlay of changed sectors, so a crash (or a guest gone wrong) never
corrupts the image.  `commit=True` writes each changed sector through to the file.
"""
import os


class DiskImageError(Exception):
    """A missing, unreadable or malformed image; the message names the file."""


class DiskImage:
    SECTOR = 512

    def __init__(self, path, commit=False, read_only=False, sector_size=512):
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
        if self.commit:
            self._file.flush()

    def close(self):
        self._file.close()

    def get_state(self):
        return {"path": self.path, "overlay": dict(self.overlay)}

    def set_state(self, state):
        self.overlay = dict(state.get("overlay", {}))
