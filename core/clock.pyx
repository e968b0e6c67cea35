# Temporary minimal clock so the CPU builds; replaced by the full implementation.
import heapq

cdef class Clock:
    def __init__(self, frequency=4772727):
        self.now = 0
        self.next_deadline = 0xFFFFFFFFFFFFFFFF
        self.frequency = frequency
        self._heap = []
        self._seq = 0

    cpdef object schedule(self, uint64_t when, object callback, int priority=0):
        ev = [when, priority, self._seq, callback]
        self._seq += 1
        heapq.heappush(self._heap, ev)
        self.next_deadline = self._heap[0][0]
        return ev

    cpdef bint cancel(self, object event):
        return False

    cpdef object reschedule(self, object event, uint64_t when):
        return self.schedule(when, event[3], event[1])

    cpdef int run_due(self) except -1:
        cdef int n = 0
        while self._heap and self._heap[0][0] <= self.now:
            ev = heapq.heappop(self._heap)
            ev[3](ev[0])
            n += 1
        self.next_deadline = self._heap[0][0] if self._heap else 0xFFFFFFFFFFFFFFFF
        return n
