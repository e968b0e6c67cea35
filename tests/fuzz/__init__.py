"""The fuzz harness: no guest, image, packet or file may crash the host or lose data.

    python -m tests.fuzz --help
    python -m tests.fuzz run --target cpu --cases 200 -j 1 --out traces/fuzz
    python -m tests.fuzz case cpu 1234          # rerun one case (what a reproducer says)

A *target* (tests/fuzz/targets.py) turns a seed into one case and runs it: random guest
code on a CPU model in a mode, random port I/O to a PC, a DMA setup, a malformed file
fed to the command that reads it, a stream of gdb packets.  Cases run in child processes
(tests/fuzz/child.py), a batch of seeds per child, so that a segfault or an abort costs
the child, not the campaign, and is counted against the case that was running; the
parent (tests/fuzz/runner.py) is the only one that looks at the wall clock (its
watchdog turns a child that stops answering into a "hang").  Every outcome is one of
OUTCOMES below; the bugs are saved as reproducers (seed and the command that reruns it).
docs/fuzzing.md says how to run campaigns, locally and on a cluster.
"""

# What a case can come to.  The first three are fine; the rest are bugs.
OK = "ok"                       # ran to its budget or to a normal end
GUEST_FAULT = "guest-fault"     # the guest faulted, triple-faulted or halted: its business
USER_ERROR = "user-error"       # a malformed input refused with a message naming it
EXCEPTION = "exception"         # a Python exception escaped (or a device reported one)
CRASH = "crash"                 # the child died: a signal, an abort, an exit without answer
HANG = "hang"                   # the child stopped answering within the watchdog's time
BAD_MESSAGE = "bad-message"     # refused, but the message does not say which file or option
DATA_LOSS = "data-loss"         # a user's disk image changed without --commit
FINE = (OK, GUEST_FAULT, USER_ERROR)
BUGS = (EXCEPTION, CRASH, HANG, BAD_MESSAGE, DATA_LOSS)
OUTCOMES = FINE + BUGS
