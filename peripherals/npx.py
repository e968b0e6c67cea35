"""The PC/AT's numeric-coprocessor glue: FERR# to IRQ13, and the ports F0h/F1h.

On the IBM PC/AT the 80287's ERROR# output does not reach the CPU's ERROR# input; board
logic latches it onto IRQ13 (the slave 8259's input 5) and holds the CPU's BUSY# until
software writes port F0h, so a DOS-era program's coprocessor errors arrive as an
interrupt [IBM PC AT Technical Reference, "System Board: Math Coprocessor"].  The 486 and
later keep the scheme when CR0.NE = 0: the CPU drives FERR#, and the chipset routes it to
IRQ13 and answers the write to F0h by asserting IGNNE# [SDM vol. 1 D.2 "MS-DOS
compatibility sub-mode"; Intel 82371 PIIX3 datasheet, "Coprocessor error"].

The CPU calls `ferr(level)` (core/cpu.pyx wires cpu.ferr_hook to it) when an unmasked x87
exception is left pending with CR0.NE = 0.  Writing F0h lowers IRQ13 (the latch clears);
writing F1h resets the coprocessor on the AT, which here is FNINIT's effect on the x87.
"""
from peripherals.device import Device

IRQ_FERR = 13
PORT_CLEAR_BUSY = 0xF0
PORT_RESET_NPX = 0xF1


class NPX(Device):
    name = "npx"

    def __init__(self, machine):
        super().__init__(machine)
        self.latched = False
        self.errors = 0                 # FERR# assertions seen, for info()
        machine.bus.register_io(PORT_CLEAR_BUSY, 2, self._read, self._write, width=1)
        machine.cpu.ferr_hook = self.ferr

    def ferr(self, level):
        if level and not self.latched and not self.machine.cpu.ignne:
            self.latched = True
            self.errors += 1
            self.machine.set_irq(IRQ_FERR, True)

    def _read(self, port, width):
        return 0xFF

    def _write(self, port, width, value):
        # Either port clears the latch: IRQ13 goes low.  If the x87 still reports the
        # error, IGNNE# goes active so a frozen waiting instruction goes on; a handler
        # that cleared the exception first never sees IGNNE# (SDM vol. 1 D.2.1.2).
        cpu = self.machine.cpu
        if self.latched:
            self.latched = False
            self.machine.set_irq(IRQ_FERR, False)
        if cpu.fpu is not None and (cpu.fpu.sw & 0x80):
            cpu.ignne = True
        if port == PORT_RESET_NPX and self.machine.cpu.fpu is not None:
            self.machine.cpu.fpu.finit()

    def reset(self):
        if self.latched:
            self.machine.set_irq(IRQ_FERR, False)
        self.latched = False

    def get_state(self):
        return {"latched": self.latched, "errors": self.errors}

    def set_state(self, state):
        self.latched = bool(state["latched"])
        self.errors = int(state.get("errors", 0))

    def info(self):
        fpu = self.machine.cpu.fpu
        return ("npx: FERR# latch %s (IRQ13); %d coprocessor errors; x87 %s"
                % ("set" if self.latched else "clear", self.errors,
                   "present" if fpu is not None else "absent"))
