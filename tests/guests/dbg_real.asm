; dbg_real - a real-mode guest for the debugger's command tests (tests/test_dbg_commands.py).
;
; Loaded at 1000:0000 (linear 0x10000) with SS:SP = 3000:FFFE.  Each step does one thing a
; command is tested on: registers set to known values, bytes written at 0x500, a call two
; levels deep (next, finish, bt), a write and a read of watched memory, an OUT to port 0xE9,
; a software interrupt through the IVT, the magic breakpoint, and a loop for hit counts.

bits 16
org 0

start:
        mov ax, 0x1234
        mov bx, 0x5678
        xor cx, cx
        mov ds, cx
        mov byte [0x500], 0x11
        mov byte [0x501], 0x22
        mov word [0x502], 0x4433
        mov word [0x30*4], int30        ; IVT entry of INT 30h -> 1000:int30
        mov word [0x30*4+2], 0x1000
call_func:
        call func
after_call:
        mov dx, 0xe9
        mov al, 'A'
        out dx, al
after_out:
        int 0x30
after_int:
        xchg bx, bx
after_magic:
        mov si, 3
loop_top:
        dec si
        jnz loop_top
done:
        hlt

func:
        push bp
        mov bp, sp
        mov word [0x510], 0xbeef
after_write:
        mov ax, [0x500]
after_read:
        call inner
after_inner:
        pop bp
        ret

inner:
        push bp
        mov bp, sp
inner_body:
        nop
        pop bp
        ret

int30:
        mov cx, 0x3030
        iret
