; markoff.asm: boot sector of the 720K disk image that syslinux hands to
; memdisk in the syslinux-memdisk recording.  It runs from memdisk's RAM disk
; (no FDC I/O): writes "MARK memdisk-boot" and "MARK done" to COM2, a results
; line to COM1, and powers the machine off (PIIX4 PM1a_CNT at 0xB004).
bits 16
org 0x7C00
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7C00
    cld
    mov si, s1
    call com2_str
    mov si, s2
    call com2_str
    mov si, s3
    mov dx, 0x3F8
    call out_str
    mov dx, 0x3FD
.drain:
    in al, dx
    test al, 0x40
    jz .drain
    mov dx, 0xB004
    mov ax, 0x2000
    out dx, ax
    lidt [null_idt]
    int 3
    jmp $
com2_str:
    mov dx, 0x2F8
out_str:                        ; SI string -> port DX (THR), waits for THRE at DX+5
    lodsb
    test al, al
    jz .r
    push ax
    add dx, 5
.w: in al, dx
    test al, 0x20
    jz .w
    sub dx, 5
    pop ax
    out dx, al
    jmp out_str
.r: ret
null_idt: dw 0, 0, 0
s1: db "MARK memdisk-boot", 10, 0
s2: db "MARK done", 10, 0
s3: db "memdisk payload booted", 10, 0
    times 510 - ($ - $$) db 0
    dw 0xAA55
