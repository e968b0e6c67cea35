# The global event clock: the C fields the CPU reads in its hot loop.
# core/clock.pyx implements it; see docs/python-api.md for the Python surface.
from libc.stdint cimport uint64_t, int64_t


cdef class Event:
    # The heap key: events fire in (deadline, priority, seq) order.
    cdef readonly uint64_t deadline
    cdef readonly int priority
    cdef readonly uint64_t seq
    cdef readonly object callback
    cdef readonly bint pending
    # Slot in the owning clock's heap, or -1 once popped. A cancelled event may still sit
    # in the heap (lazy deletion) with pending false until it is purged or rescheduled.
    cdef Py_ssize_t _index
    cdef object _clock


cdef class Clock:
    # CPU clock cycles since power-on; the CPU advances it by each instruction's cost.
    cdef public uint64_t now
    # Deadline of the earliest pending event, or 0xFFFFFFFFFFFFFFFF when none is pending.
    # The CPU runs a slice up to min(budget, next_deadline), then Machine calls run_due().
    cdef public uint64_t next_deadline
    cdef public uint64_t frequency      # CPU clock in Hz (for clock-domain conversion)
    cdef list _heap
    cdef uint64_t _seq
    cdef Py_ssize_t _cancelled_count    # cancelled events still lying in _heap

    cpdef object schedule(self, uint64_t when, object callback, int priority=*)
    cpdef bint cancel(self, object event)
    cpdef object reschedule(self, object event, uint64_t when)
    cpdef int run_due(self) except -1

    cdef void _sift_up(self, Py_ssize_t i)
    cdef void _sift_down(self, Py_ssize_t i)
    cdef Event _pop_top(self)
    cdef void _settle_top(self)
    cdef void _compact(self)
    cdef Event _own(self, object event)


cdef class ClockDomain:
    # dev ticks per CPU cycle as the reduced fraction _num/_den (Python ints, exact).
    cdef readonly object cpu_hz
    cdef readonly object dev_hz
    cdef object _num
    cdef object _den
    # The same ratio as C integers, and the largest arguments for which the products
    # cannot overflow 64 bits; beyond them the conversions fall back to Python ints.
    cdef bint _fast
    cdef uint64_t _cnum
    cdef uint64_t _cden
    cdef uint64_t _ticks_arg_max
    cdef uint64_t _cycles_arg_max

    cpdef object to_ticks(self, object cycles)
    cpdef object to_cycles(self, object ticks)
