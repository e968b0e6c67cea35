"""The 8237A DMA pair and the AT page registers (peripherals/dma.py).

The guest side is driven through the real bus's port handlers (what an OUT/IN reaches);
the device side through DMA.transfer/fetch as a device model calls them.  Expected values
come from the Intel 8237A datasheet (register map, flip-flop, mode bits, TC and
autoinitialize) and the IBM PC/AT page register map.
"""
import pytest

from core.machine import Machine
from peripherals.debugport import DebugPort
from peripherals.dma import DMA


@pytest.fixture
def m():
    return Machine("80386", memory=4 << 20)


@pytest.fixture
def dma(m):
    return DMA(m)


def out(m, port, value, width=1):
    m.bus.port_write(port, width, value)


def inp(m, port, width=1):
    return m.bus.port_read(port, width)


def enable_cascade(m):
    """What every AT BIOS does in POST: channel 4 in cascade mode, unmasked."""
    out(m, 0xD6, 0xC0)
    out(m, 0xD4, 0x00)


def program(m, channel, address, count, mode, page):
    """Program a channel the usual way: mask, clear flip-flop, address, count, mode,
    page, unmask (mode's low bits select the channel)."""
    if channel < 4:
        base, step, mask_port, ff_port, mode_port = 0x00, 1, 0x0A, 0x0C, 0x0B
    else:
        base, step, mask_port, ff_port, mode_port = 0xC0, 2, 0xD4, 0xD8, 0xD6
    c = channel & 3
    out(m, mask_port, 4 | c)
    out(m, ff_port, 0)
    out(m, base + 2 * c * step, address & 0xFF)
    out(m, base + 2 * c * step, address >> 8)
    out(m, base + (2 * c + 1) * step, count & 0xFF)
    out(m, base + (2 * c + 1) * step, count >> 8)
    out(m, mode_port, (mode & 0xFC) | c)
    page_port = (0x87, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A)[channel]
    out(m, page_port, page)
    out(m, mask_port, c)


def read_current(m, channel):
    """(current address, current count) through the flip-flop, as a driver reads them."""
    if channel < 4:
        base, step, ff = 0x00, 1, 0x0C
    else:
        base, step, ff = 0xC0, 2, 0xD8
    c = channel & 3
    out(m, ff, 0)
    a = inp(m, base + 2 * c * step) | inp(m, base + 2 * c * step) << 8
    n = inp(m, base + (2 * c + 1) * step) | inp(m, base + (2 * c + 1) * step) << 8
    return a, n


# mode bytes (channel bits 0): single mode, address increment, no autoinit
WRITE_SINGLE = 0x44       # device -> memory
READ_SINGLE = 0x48        # memory -> device
VERIFY_SINGLE = 0x40


def test_ports_claimed_and_0x80_left_to_the_post_port(m):
    post = DebugPort(m)
    dma = DMA(m)
    out(m, 0x80, 0x55)                      # a POST code, not a page register
    assert post.post_codes == [0x55]
    assert dma.pages[0] == 0
    for port in list(range(0x00, 0x10)) + list(range(0xC0, 0xE0)) + list(range(0x81, 0x90)):
        inp(m, port)
    assert m.bus.unclaimed_ports == {}
    # The 74LS612's registers that no channel uses are plain storage.
    out(m, 0x84, 0xA5)
    out(m, 0x8C, 0x5A)
    assert (inp(m, 0x84), inp(m, 0x8C)) == (0xA5, 0x5A)


def test_address_and_count_go_through_the_flip_flop(m, dma):
    out(m, 0x0C, 0)                         # clear byte pointer
    out(m, 0x02, 0x34)
    out(m, 0x02, 0x12)
    out(m, 0x03, 0xCD)
    out(m, 0x03, 0xAB)
    ch = dma.controllers[0].channels[1]
    assert (ch.base_address, ch.current_address) == (0x1234, 0x1234)
    assert (ch.base_count, ch.current_count) == (0xABCD, 0xABCD)
    assert read_current(m, 1) == (0x1234, 0xABCD)
    # Every access toggles the flip-flop, reads included: after one read the next
    # write lands in the high byte.
    out(m, 0x0C, 0)
    inp(m, 0x02)
    out(m, 0x02, 0x77)
    assert ch.current_address == 0x7734


def test_dma2_registers_are_on_even_ports_and_odd_ports_alias_them(m, dma):
    out(m, 0xD9, 0)                         # clear flip-flop through the alias of 0xD8
    out(m, 0xC4, 0x00)                      # channel 5 address (port 0xC4)
    out(m, 0xC5, 0x80)                      # alias of 0xC4: the high byte
    assert dma.controllers[1].channels[1].current_address == 0x8000
    out(m, 0xD6, 0x45)                      # mode: channel 5, write, single
    assert dma.controllers[1].channels[1].mode == 0x44


def test_mask_registers(m, dma):
    ctl = dma.controllers[0]
    assert ctl.mask == 0x0F                 # all masked after reset
    out(m, 0x0A, 0x02)                      # clear mask bit of channel 2
    assert ctl.mask == 0x0B
    out(m, 0x0A, 0x06)                      # set it again
    assert ctl.mask == 0x0F
    out(m, 0x0E, 0)                         # clear all mask bits
    assert ctl.mask == 0x00
    out(m, 0x0F, 0x05)                      # write all mask bits
    assert ctl.mask == 0x05


def test_master_clear(m, dma):
    ctl = dma.controllers[0]
    out(m, 0x08, 0x10)                      # command register
    out(m, 0x0E, 0)
    out(m, 0x09, 0x05)                      # software request on channel 1
    out(m, 0x02, 0x11)                      # flip-flop now points at the high byte
    out(m, 0x0B, 0x45)                      # channel 1 mode
    out(m, 0x0D, 0)                         # master clear
    assert (ctl.command, ctl.mask, ctl.request, ctl.flipflop, ctl.tc) == (0, 0x0F, 0, 0, 0)
    assert ctl.channels[1].mode == 0x44     # modes are not cleared
    assert inp(m, 0x08) == 0x00


def test_write_transfer_increments_and_reaches_terminal_count(m, dma):
    enable_cascade(m)
    program(m, 1, 0x1000, 9, WRITE_SINGLE, 0x02)        # 10 transfers at 0x021000
    assert dma.ready(1)
    n, tc = dma.transfer(1, bytes(range(6)))
    assert (n, tc) == (6, False)
    assert read_current(m, 1) == (0x1006, 3)
    n, tc = dma.transfer(1, bytes(range(6, 16)))        # only 4 more fit
    assert (n, tc) == (4, True)
    assert m.mem.read(0x21000, 11) == bytes(range(10)) + b"\x00"
    assert read_current(m, 1) == (0x100A, 0xFFFF)
    status = inp(m, 0x08)
    assert status & 0x0F == 0x02                        # TC of channel 1
    assert inp(m, 0x08) & 0x0F == 0                     # cleared by the read
    # Without autoinitialize the channel masks itself at TC.
    assert dma.controllers[0].mask & 0x02
    assert not dma.ready(1)
    assert dma.transfer(1, b"\x01") == (0, False)


def test_address_wraps_inside_the_64k_page(m, dma):
    enable_cascade(m)
    program(m, 3, 0xFFFE, 3, WRITE_SINGLE, 0x05)
    dma.transfer(3, b"ABCD")
    assert m.mem.read(0x5FFFE, 2) == b"AB"
    assert m.mem.read(0x50000, 2) == b"CD"              # not 0x60000: the page stays
    assert m.mem.read(0x60000, 2) == b"\x00\x00"


def test_decrement_mode_stores_downwards(m, dma):
    enable_cascade(m)
    program(m, 1, 0x2003, 3, WRITE_SINGLE | 0x20, 0x00)
    assert dma.transfer(1, b"wxyz") == (4, True)
    assert m.mem.read(0x2000, 4) == b"zyxw"
    assert read_current(m, 1)[0] == 0x1FFF


def test_autoinit_reloads_and_stays_unmasked(m, dma):
    enable_cascade(m)
    program(m, 1, 0x3000, 3, WRITE_SINGLE | 0x10, 0x00)
    assert dma.transfer(1, b"1234") == (4, True)
    assert read_current(m, 1) == (0x3000, 3)
    assert dma.ready(1)
    assert dma.transfer(1, b"abcdef") == (4, True)      # stops at the next TC
    assert m.mem.read(0x3000, 5) == b"abcd\x00"
    assert inp(m, 0x08) & 0x02


def test_read_transfer_fetches_memory(m, dma):
    enable_cascade(m)
    m.mem.write(0x14000, b"floppy data!")
    program(m, 2, 0x4000, 11, READ_SINGLE, 0x01)
    data, tc = dma.fetch(2, 5)
    assert (data, tc) == (b"flopp", False)
    data, tc = dma.fetch(2, 100)
    assert (data, tc) == (b"y data!", True)


def test_verify_moves_counters_but_not_memory(m, dma):
    enable_cascade(m)
    program(m, 2, 0x6000, 3, VERIFY_SINGLE, 0x00)
    assert dma.transfer(2, b"\xEE" * 4) == (4, True)
    assert m.mem.read(0x6000, 4) == bytes(4)
    assert read_current(m, 2)[0] == 0x6004


def test_sixteen_bit_channel_counts_words_and_wraps_at_128k(m, dma):
    # Channel 5: address register 0xFFFF words = byte 0x1FFFE in the 128K page; page bit
    # 0 is not used, so page 0x03 means 0x020000.
    program(m, 5, 0xFFFF, 1, WRITE_SINGLE, 0x03)       # 2 words
    assert dma.address(5) == 0x03FFFE
    assert dma.transfer(5, b"ABCD") == (4, True)
    assert m.mem.read(0x3FFFE, 2) == b"AB"
    assert m.mem.read(0x20000, 2) == b"CD"
    assert read_current(m, 5) == (0x0001, 0xFFFF)
    assert inp(m, 0xD0) & 0x02                          # TC of channel 5 (bit 1 of DMA2)


def test_dma1_needs_channel_4_in_cascade_mode(m, dma):
    program(m, 2, 0, 0xFF, WRITE_SINGLE, 0)
    assert not dma.ready(2)                             # channel 4 still masked
    out(m, 0xD6, 0xC0)
    assert not dma.ready(2)
    out(m, 0xD4, 0x00)
    assert dma.ready(2)
    out(m, 0xD6, 0x40)                                  # channel 4 no longer cascade
    assert not dma.ready(2)
    out(m, 0xD6, 0xC0)
    out(m, 0x08, 0x04)                                  # DMA1 controller disable
    assert not dma.ready(2)
    assert dma.transfer(2, b"x") == (0, False)


def test_status_shows_device_and_software_requests(m, dma):
    dma.request(2, True)
    out(m, 0x09, 0x04 | 0)                              # software request channel 0
    assert inp(m, 0x08) == 0x50
    dma.request(2, False)
    out(m, 0x09, 0x00)
    assert inp(m, 0x08) == 0x00


def test_devices_catch_up_before_and_after_register_accesses(m, dma):
    calls = []
    dma.connect(2, lambda: calls.append(m.clock.now))
    inp(m, 0x08)
    assert len(calls) == 1
    out(m, 0x0A, 0x02)                                  # before and after a write
    assert len(calls) == 3
    out(m, 0x81, 0x10)
    assert len(calls) == 5


def test_word_port_access_reaches_consecutive_registers(m, dma):
    out(m, 0x0C, 0)
    out(m, 0x04, 0x3412, width=2)           # low byte to 0x04, high byte to 0x05
    ch2 = dma.controllers[0].channels[2]
    assert ch2.current_address == 0x0012
    # One flip-flop serves every register: the write to 0x04 moved it to "high byte".
    assert ch2.current_count == 0x3400


def test_reset_and_snapshot_round_trip(m, dma):
    enable_cascade(m)
    program(m, 6, 0x1234, 0x100, WRITE_SINGLE | 0x10, 0x40)
    dma.transfer(6, b"\x00" * 8)
    state = dma.get_state()
    m2 = Machine("80386", memory=4 << 20)
    other = DMA(m2)
    other.set_state(state)
    assert other.get_state() == state
    assert other.info() == dma.info()
    assert "ch6: unmasked single  write   autoinit" in dma.info()
    dma.reset()
    assert dma.controllers[1].mask == 0x0F and dma.pages[0x89 - 0x80] == 0
