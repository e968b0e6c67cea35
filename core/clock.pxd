# The global event clock: the C fields the CPU reads in its hot loop.
# core/clock.pyx implements it; see docs/python-api.md for the Python surface.
from libc.stdint cimport uint64_t, int64_t

cdef class Clock:
    # CPU clock cycles since power-on; the CPU advances it by each instruction's cost.
    cdef public uint64_t now
    # Deadline of the earliest pending event, or 0xFFFFFFFFFFFFFFFF when none is pending.
    # The CPU runs a slice up to min(budget, next_deadline), then Machine calls run_due().
    cdef public uint64_t next_deadline
    cdef public uint64_t frequency      # CPU clock in Hz (for clock-domain conversion)
    cdef list _heap
    cdef uint64_t _seq
    cdef object _cancelled_count

    cpdef object schedule(self, uint64_t when, object callback, int priority=*)
    cpdef bint cancel(self, object event)
    cpdef object reschedule(self, object event, uint64_t when)
    cpdef int run_due(self) except -1
