"""Random port I/O and MMIO to the `pc` and `isapc` machines, and random DMA setups.

`ports`: a PC is built with media attached (a floppy, a hard disk and a CD, all random
bytes in files of the case's folder), its BIOS runs for a while, and then a random
sequence of reads and writes of every width goes to every claimed port and MMIO page
(found by asking the bus, again after PCI BARs may have moved), to unclaimed ports
now and then, in random order and in bursts (FIFOs), with the machine run between them
so that the devices' events fire.  The guest is either the BIOS still running, or an
idle loop with every interrupt vector on an IRET, so that interrupts are taken.

`dma`: the 8237 pair is programmed with random setups (modes of every transfer type,
autoinit, decrement, addresses at the top of a 64 KiB page so that they wrap, page
registers pointing past RAM, counts of 0 and FFFFh) and the floppy controller is made
to move data through it (READ/WRITE DATA, READ TRACK, FORMAT with random parameters);
devices' side of the API (transfer/fetch) is driven directly too; on `pc` fw_cfg's DMA
interface gets random access structures (outside RAM, across its end, over ROM/MMIO).

Both check at the end that the media files are byte for byte what they were: nothing
here asks for --commit.
"""
import hashlib
import os
import random

from tests.fuzz import DATA_LOSS, OK

IDLE = 0x600          # STI; JMP $ (real mode), every IVT vector on the IRET at 0x500
SPECIAL = (0, 1, 0xFF, 0x80, 0x7F, 0xFFFF, 0x8000, 0xFFFFFFFF, 0x80000000)


def make_media(rng, case_dir):
    """Random floppy, disk and CD images; returns {slot: path} and their hashes."""
    media = {}
    fd = os.path.join(case_dir, "fd.img")
    size = rng.choice((368640, 737280, 1228800, 1474560, 1474560, 2949120))
    with open(fd, "wb") as f:
        f.write(rng.randbytes(size) if rng.random() < 0.5 else bytes(size))
    media["fda"] = fd
    hd = os.path.join(case_dir, "hd.img")
    with open(hd, "wb") as f:
        f.write(rng.randbytes(rng.choice((512, 64 * 512, 2048 * 512))))
    media["hda"] = hd
    if rng.random() < 0.7:
        cd = os.path.join(case_dir, "cd.iso")
        with open(cd, "wb") as f:
            f.write(rng.randbytes(2048 * rng.choice((1, 20, 200))))
        media["cdrom"] = cd
    return media


def digest(paths):
    out = {}
    for p in paths:
        with open(p, "rb") as f:
            out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


def build(rng, case_dir, machine=None, memory=None, cpu=None):
    from core import pc as pcmod
    machine = machine or rng.choice(("pc", "isapc"))
    media = make_media(rng, case_dir)
    cfg = pcmod.PCConfig(machine=machine,
                         memory=memory or rng.choice((1 << 20, 4 << 20, 16 << 20, 32 << 20)),
                         boot=rng.choice(("floppy", "disk", "cdrom", None)), **media)
    if cfg.boot == "cdrom" and "cdrom" not in media:
        cfg.boot = None
    if cpu is not None:
        cfg.cpu = cpu
    elif rng.random() < 0.3:
        cfg.cpu = rng.choice(("80386", "80486", "pentium", "pentium2"))
    pc = pcmod.build_pc(cfg)
    return pc, media


def idle(pc):
    """Take the CPU over: real mode, every vector on an IRET, STI and a jump to itself."""
    m = pc.machine
    m.cpu.reset()
    for v in range(256):
        m.bus.write(v * 4, (0x500).to_bytes(2, "little") + bytes(2))
    m.bus.write(0x500, b"\xCF")
    m.bus.write(IDLE, b"\xFB\xEB\xFE")
    m.cpu.cs, m.cpu.ip = 0, IDLE


def claimed(pc):
    bus = pc.machine.bus
    ports = [p for p in range(65536) if bus.io_owner(p) is not None]
    pages = [a for a in range(0, 1 << 32, 4096) if bus.page_kind(a) == "mmio"]
    return ports, pages


def value(rng, width):
    if rng.random() < 0.3:
        return rng.choice(SPECIAL) & ((1 << 8 * width) - 1)
    return rng.getrandbits(8 * width)


def run(seed, case_dir):
    rng = random.Random("ports:%d" % seed)
    pc, media = build(rng, case_dir)
    before = digest(media.values())
    m, bus = pc.machine, pc.machine.bus
    try:
        m.run(max_cycles=rng.choice((0, 1_000_000, 5_000_000, 20_000_000)))
        if rng.random() < 0.5:
            idle(pc)
        ports, pages = claimed(pc)
        port_ops = mmio_ops = 0
        for i in range(rng.randrange(200, 1500)):
            if i % 100 == 99:
                ports, pages = claimed(pc)
            r = rng.random()
            width = rng.choice((1, 1, 1, 2, 4))
            if r < 0.6 or (r < 0.8 and not pages):
                port = rng.choice(ports) if rng.random() < 0.95 else rng.randrange(65536)
                for _ in range(rng.choice((1, 1, 1, 2, 8, 64))):      # a burst
                    if rng.random() < 0.5:
                        bus.port_read(port, width)
                    else:
                        bus.port_write(port, width, value(rng, width))
                    port_ops += 1
            elif r < 0.68 and pc.config.machine == "pc":
                pci_config_write(rng, bus)
                port_ops += 2
            elif r < 0.72:
                port_ops += vga_registers(rng, bus)
                render(rng, pc)
            elif r < 0.76:
                port_ops += ata_command(rng, pc)
            elif r < 0.8:
                addr = rng.choice(pages) + rng.randrange(4096)
                if rng.random() < 0.5:
                    (bus.read8, bus.read16, bus.read32)[width >> 1](addr)
                else:
                    (bus.write8, bus.write16, bus.write32)[width >> 1](addr, value(rng, width))
                mmio_ops += 1
            else:
                m.run(max_cycles=rng.choice((10, 1000, 50_000, 500_000)))
        m.run(max_cycles=1_000_000)
        render(rng, pc)
    finally:
        pc.close()
    after = digest(media.values())
    if after != before:
        return {"outcome": DATA_LOSS, "detail": "a medium changed: %s"
                % [p for p in before if before[p] != after[p]], "port_ops": port_ops}
    return {"outcome": OK, "machine": pc.config.machine, "port_ops": port_ops,
            "mmio_ops": mmio_ops}


def vga_registers(rng, bus):
    """Random values in the VGA's indexed registers (sequencer, CRTC, graphics
    controller, attribute controller, DAC) and the Bochs VBE dispi registers."""
    n = 0
    for _ in range(rng.randrange(1, 12)):
        kind = rng.randrange(6)
        if kind == 0:
            bus.port_write(0x3C4, 1, rng.randrange(8))
            bus.port_write(0x3C5, 1, rng.randrange(256))
        elif kind == 1:
            bus.port_write(0x3D4, 1, rng.randrange(0x19))
            bus.port_write(0x3D5, 1, rng.choice((0, 0xFF, rng.randrange(256))))
        elif kind == 2:
            bus.port_write(0x3CE, 1, rng.randrange(9))
            bus.port_write(0x3CF, 1, rng.randrange(256))
        elif kind == 3:
            bus.port_read(0x3DA, 1)                      # attribute flip-flop to index
            bus.port_write(0x3C0, 1, rng.randrange(0x15) | (rng.random() < 0.8 and 0x20))
            bus.port_write(0x3C0, 1, rng.randrange(256))
        elif kind == 4:
            bus.port_write(0x3C8, 1, rng.randrange(256))
            for _ in range(3):
                bus.port_write(0x3C9, 1, rng.randrange(256))
        else:
            bus.port_write(0x1CE, 2, rng.randrange(10))
            bus.port_write(0x1CF, 2, rng.choice((0, 1, 8, 15, 16, 24, 32, 640, 1024, 0x41,
                                                 0xFFFF, 1600, 1200, rng.randrange(1 << 16))))
        n += 2
    return n


def render(rng, pc):
    """What the screen shows, the way the screenshot, the TUI and --screen ask for it."""
    vga = pc.chips.get("vga")
    if vga is not None:
        vga.render(blink=rng.random() < 0.5)
        vga.mode_description()
        pc.screen_text()


def ata_command(rng, pc):
    """An ATA or ATAPI command with random parameters to a random channel and drive, its
    data phase read or written for a random number of words."""
    bus, m = pc.machine.bus, pc.machine
    base, ctrl = rng.choice(((0x1F0, 0x3F6), (0x170, 0x376)))
    bus.port_write(base + 6, 1, 0xA0 | rng.choice((0x40, 0x40, 0)) | rng.choice((0, 0x10))
                   | rng.randrange(16))
    if rng.random() < 0.05:
        bus.port_write(ctrl, 1, 0x04)                    # SRST
        bus.port_write(ctrl, 1, 0x00)
    for reg in range(1, 6):
        bus.port_write(base + reg, 1, rng.choice((0, 1, 0xFF, rng.randrange(256))))
    cmd = rng.choice((0xEC, 0xA1, 0x20, 0x21, 0x30, 0x31, 0xC4, 0xC5, 0xC6, 0x29, 0x39,
                      0x24, 0x34, 0x40, 0x70, 0x91, 0xEF, 0xE7, 0xEA, 0xA0, 0x08, 0x90,
                      0xC8, 0xCA, 0xF8, 0x27, 0xE0, 0xE1, 0xE5, rng.randrange(256)))
    bus.port_write(base + 7, 1, cmd)
    n = 9
    m.run(max_cycles=rng.choice((100, 10_000)))
    if cmd == 0xA0:                                      # PACKET: a random CDB
        cdb = bytearray(rng.randbytes(12))
        cdb[0] = rng.choice((0x00, 0x03, 0x12, 0x1B, 0x1E, 0x25, 0x28, 0x43, 0x46, 0x4A,
                             0x51, 0x5A, 0xA8, 0xBD, 0xBE, 0x2B, 0x55, cdb[0]))
        for i in range(0, 12, 2):
            bus.port_write(base, 2, cdb[i] | cdb[i + 1] << 8)
        n += 6
        m.run(max_cycles=rng.choice((100, 10_000, 1_000_000)))
    for _ in range(rng.choice((0, 1, 256, 256, 2048, 5000))):
        if rng.random() < 0.7:
            bus.port_read(base, rng.choice((2, 2, 4, 1)))
        else:
            bus.port_write(base, 2, rng.getrandbits(16))
        n += 1
    bus.port_read(base + 7, 1)
    return n


# i440FX PAM0-PAM6 (shadow RAM of C0000-FFFFF), the BARs, the command register, and the
# PIIX3's registers; bus 0, devices 0 (host bridge) and 1 (PIIX3 functions 0-3).
PCI_REGISTERS = (0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x04, 0x10, 0x14, 0x18, 0x1C,
                 0x20, 0x24, 0x30, 0x3C, 0x40, 0x41, 0x4C, 0x60, 0x61, 0x69, 0x72)


def pci_config_write(rng, bus):
    """A configuration write through mechanism #1 to a register that remaps memory or
    ports (PAM, BARs, command), with a random or all-ones value."""
    dev = rng.choice((0, 1, 1, 2, 3, rng.randrange(32)))
    fn = rng.choice((0, 1, 2, 3)) if dev == 1 else 0
    reg = rng.choice(PCI_REGISTERS) if rng.random() < 0.9 else rng.randrange(256)
    width = rng.choice((1, 2, 4))
    reg &= ~(width - 1)
    bus.port_write(0xCF8, 4, 0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xFC))
    v = rng.choice((0xFFFFFFFF, 0, 0x33, 0x11, 0x22, rng.getrandbits(32)))
    bus.port_write(0xCFC + (reg & 3), width, v & ((1 << 8 * width) - 1))


# ---------------------------------------------------------------- DMA

def program_8237(rng, bus, channel, transfer=None):
    """A random setup of one channel through the ports, the way a driver writes it;
    `transfer` (VERIFY, WRITE or READ from peripherals/dma.py) mostly fixes the type."""
    dma2 = channel >= 4
    c = channel & 3
    base = 0xC0 if dma2 else 0x00
    step = 2 if dma2 else 1
    reg = lambda r: base + r * step                     # noqa: E731
    page_port = (0x87, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A)[channel]
    bus.port_write(reg(10), 1, 4 | c)                    # mask the channel
    bus.port_write(reg(12), 1, 0)                        # clear the byte flip-flop
    kind = transfer if transfer is not None and rng.random() < 0.85 else rng.randrange(4)
    mode = (kind << 2) | (rng.random() < 0.3 and 0x10) \
        | (rng.random() < 0.2 and 0x20) | (rng.choice((0, 1, 1, 2, 3)) << 6) | c
    bus.port_write(reg(11), 1, mode)
    addr = rng.choice((0, 0xFFFF, 0xFFF0, 0xFE00, rng.randrange(1 << 16)))
    bus.port_write(reg(2 * c), 1, addr & 0xFF)
    bus.port_write(reg(2 * c), 1, addr >> 8)
    count = rng.choice((0, 0xFFFF, 511, 0x1FF, rng.randrange(1 << 16)))
    bus.port_write(reg(2 * c + 1), 1, count & 0xFF)
    bus.port_write(reg(2 * c + 1), 1, count >> 8)
    bus.port_write(page_port, 1, rng.choice((0, 1, 0x0F, 0xFF, rng.randrange(256))))
    if rng.random() < 0.1:
        bus.port_write(reg(8), 1, rng.randrange(256))   # command register
    if rng.random() < 0.1:
        bus.port_write(reg(9), 1, rng.randrange(8))     # software request
    bus.port_write(reg(10), 1, c if rng.random() < 0.9 else 4 | c)     # unmask


def fdc_command(rng, pc, data, settle=2000, quick=None):
    """Write the bytes of a floppy command, waiting for RQM as a driver would (a bounded
    number of times); then run and read the result phase."""
    m, bus = pc.machine, pc.machine.bus
    for b in data:
        for _ in range(20):
            if bus.port_read(0x3F4, 1) & 0xC0 == 0x80:
                break
            m.run(max_cycles=settle)
        bus.port_write(0x3F5, 1, b)
    # The disk turns at 300 rpm: a sector can be 200 ms away.  Mostly wait that long,
    # sometimes break into the transfer with the next setup.
    freq = m.clock.frequency
    if quick is None:
        quick = data[0] in (0x03, 0x04, 0x08)        # SPECIFY, SENSE DRIVE/INTERRUPT
    m.run(max_cycles=10_000 if quick else
          rng.choice((10_000, freq // 1000, freq // 4, freq // 4, freq // 3)))
    for _ in range(10):
        if bus.port_read(0x3F4, 1) & 0xC0 != 0xC0:
            break
        bus.port_read(0x3F5, 1)


def run_dma(seed, case_dir):
    rng = random.Random("dma:%d" % seed)
    pc, media = build(rng, case_dir, memory=rng.choice((1 << 20, 2 << 20, 16 << 20)))
    before = digest(media.values())
    m, bus = pc.machine, pc.machine.bus
    dma = pc.chips["dma"]
    setups = 0
    try:
        idle(pc)
        bus.port_write(0x0D, 1, 0)                       # master clear, both chips
        bus.port_write(0xDA, 1, 0)
        bus.port_write(0xD6, 1, 0xC0)                    # channel 4 cascade
        bus.port_write(0xD4, 1, 0)
        bus.port_write(0x3F2, 1, 0)                      # FDC reset, then motor A + DMA
        m.run(max_cycles=1000)
        bus.port_write(0x3F2, 1, 0x1C)
        bus.port_write(0x3F7, 1, 0 if rng.random() < 0.8 else rng.randrange(4))
        m.run(max_cycles=100_000)
        for _ in range(4):
            fdc_command(rng, pc, [0x08])                 # sense interrupt status
        # SPECIFY: mostly what a BIOS sets (SRT 3 ms, HUT 240 ms, HLT 2 ms, DMA mode).
        fdc_command(rng, pc, [0x03, 0xDF, 0x02] if rng.random() < 0.7 else
                    [0x03, rng.randrange(256), rng.randrange(256) & 0xFE])
        fdc_command(rng, pc, [0x07, 0])                  # RECALIBRATE drive 0
        fdc_command(rng, pc, [0x08])
        for _ in range(rng.randrange(3, 12)):
            setups += 1
            r = rng.random()
            if r < 0.6:
                cmd = rng.choice((0xE6, 0xE6, 0x46, 0xC5, 0x45, 0x42, 0x4D, 0x0F, 0x07))
                # The floppy's DMA channel, set up in the direction the command moves
                # data (READ DATA writes memory), most of the time.
                channel = 2 if rng.random() < 0.9 else rng.choice((0, 1, 3))
                program_8237(rng, bus, channel, 2 if cmd in (0xC5, 0x45, 0x4D) else 1)
                head = rng.randrange(2)
                drive = 0 if rng.random() < 0.85 else rng.randrange(4)
                cyl = rng.randrange(80) if rng.random() < 0.9 else rng.randrange(256)
                if cmd in (0xE6, 0x46, 0xC5, 0x45, 0x42) and rng.random() < 0.8:
                    fdc_command(rng, pc, [0x0F, (head << 2) | drive, cyl])   # SEEK first
                    fdc_command(rng, pc, [0x08])
                if cmd == 0x4D:                          # FORMAT TRACK
                    args = [(head << 2) | drive, rng.choice((2, 2, 0, 3)),
                            rng.randrange(1, 30), rng.randrange(256), rng.randrange(256)]
                elif cmd == 0x0F:                        # SEEK
                    args = [(head << 2) | drive, rng.randrange(256)]
                elif cmd == 0x07:                        # RECALIBRATE
                    args = [drive]
                else:
                    first = rng.randrange(1, 19) if rng.random() < 0.9 else rng.randrange(256)
                    args = [(head << 2) | drive, cyl, head, first,
                            rng.choice((2, 2, 2, 0, 1, 3, 7, 255)),
                            rng.choice((18, 18, first, 36, 255, rng.randrange(256))),
                            0x1B, rng.choice((0xFF, 0, 128))]
                fdc_command(rng, pc, [cmd] + args)
                fdc_command(rng, pc, [0x08])
            elif r < 0.8:
                channel = rng.choice((2, 0, 1, 3, 5, 6, 7))
                program_8237(rng, bus, channel)
                # The device side of the API, as a device would call it.
                if rng.random() < 0.5:
                    dma.transfer(channel, rng.randbytes(rng.choice((1, 2, 512, 70000))))
                else:
                    dma.fetch(channel, rng.choice((1, 2, 512, 70000)))
                dma.request(channel, rng.random() < 0.5)
            elif "fwcfg" in pc.chips:
                fwcfg_dma(rng, pc)
            else:
                m.run(max_cycles=100_000)
        m.run(max_cycles=1_000_000)
    finally:
        pc.close()
    after = digest(media.values())
    if after != before:
        return {"outcome": DATA_LOSS, "detail": "a medium changed", "dma_setups": setups}
    return {"outcome": OK, "machine": pc.config.machine, "dma_setups": setups}


def fwcfg_dma(rng, pc):
    """A random FWCfgDmaAccess {be32 control, be32 length, be64 address} somewhere."""
    bus = pc.machine.bus
    ram = bus.ram_size
    where = rng.choice((0x1000, ram - 16, ram - 8, ram, 0xA0000, 0xFFFFFFF8,
                        rng.randrange(1 << 32)))
    control = rng.choice((0x02, 0x04, 0x08 | (rng.randrange(0x40) << 16) | 0x02, 0x10,
                          rng.getrandbits(32)))
    length = rng.choice((0, 1, 4096, ram, 0xFFFFFFFF, rng.randrange(1 << 20)))
    target = rng.choice((0x2000, ram - 1, ram, 0xA0000, 0xFFFFF000, 0xFFFFFFFFFFFFFFF0,
                         rng.randrange(1 << 32)))
    if where + 16 <= 1 << 32:
        bus.write(where, control.to_bytes(4, "big") + length.to_bytes(4, "big")
                  + target.to_bytes(8, "big"))
    # The address register: big-endian, the high half at 0x514, the low half at 0x518
    # (the write reaching 0x51B starts the transfer).
    high, low = (where >> 32) & 0xFFFFFFFF, where & 0xFFFFFFFF
    bus.port_write(0x514, 4, int.from_bytes(high.to_bytes(4, "big"), "little"))
    bus.port_write(0x518, 4, int.from_bytes(low.to_bytes(4, "big"), "little"))
