; int13.asm: a floppy boot program that drives the FDC only through the BIOS
; (SeaBIOS INT 13h), the way DOS DISKCOPY / FORMAT / the DOS block driver do.
; Build: nasm -f bin -o int13.bin int13.asm; the recorder puts it at the start
; of a 1.44 MB image (the rest is a deterministic pattern) and boots it with
; qemu -boot a.
;
; Sector 0 (loaded by the BIOS at 0:7C00) loads stage 2 (CHS sectors 2..9 of
; cylinder 0 head 0, LBA 1-8) to 0:7E00 with INT 13h AH=02 and jumps to it.
; Stage markers: "MARK <stage>\n" written to COM2 (0x2F8) with direct port
; writes; COM1 (0x3F8) stays silent until the results line at the end.
; Workload (stages = markers):
;   boot        boot sector runs, loads stage 2
;   reset       AH=00 disk reset
;   geometry    AH=08 parameters, AH=15 type, AH=16 change line (no FDC I/O)
;   readscan    whole disk, one AH=02 per track (80 x 2 x 18 sectors), up to 3
;               tries per track with AH=00 between (DOS MAXERR style); byte sum
;   read-mt     one AH=02 of 36 sectors from C5 H0 S1 (multi-track, both heads)
;   write       AH=03 of C70 H0 S1-18 and C71 H1 S7-9 with a pattern
;   verify      AH=04 of the same sectors
;   readback    AH=02 of the same sectors, compared with what was written
;   format      AH=18 (set media type), AH=17 (set DASD type), then for C78-79
;               H0-1: AH=05 format (18 x C,H,R,N=2 table) + AH=04 verify track
;   format-write  AH=03 of the 4 formatted tracks, AH=02 back, compare
;   idle        ~3 s (55 BIOS ticks) with interrupts on: the BIOS motor-off
;   reread      AH=02 of the boot sector again (DOS re-reads it after 2 s idle)
;   done        results line on COM1, then ACPI power off (PM1a_CNT 0xB004)

bits 16
org 0x7C00

COM1        equ 0x3F8
COM2        equ 0x2F8
STAGE2      equ 0x7E00
STAGE2_SECS equ 8
RBUF        equ 0x1000          ; segment of the read buffer (phys 0x10000)
WBUF        equ 0x2000          ; segment of the write buffer (phys 0x20000)
FMTTAB      equ 0x0600          ; format table (0:0600)

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    cld
    mov [bootdrv], dl
    mov si, s_boot
    call mark
    mov ax, 0x0200 | STAGE2_SECS   ; AH=02 read, AL=sectors
    mov cx, 0x0002                 ; C0 S2
    xor dh, dh                     ; H0
    mov dl, [bootdrv]
    mov bx, STAGE2
    int 0x13
    jc .fail
    jmp stage2
.fail:
    mov si, s_bootfail
    call mark
    jmp poweroff

; mark: SI -> zero-terminated stage name; writes "MARK <name>\n" to COM2
mark:
    push ax
    push si
    push si
    mov si, s_markprefix
    call com2_str
    pop si
    call com2_str
    mov al, 10
    call com2_ch
    pop si
    pop ax
    ret

com2_str:
    lodsb
    test al, al
    jz .done
    call com2_ch
    jmp com2_str
.done:
    ret

com2_ch:                        ; AL -> COM2 THR (wait for THRE)
    push dx
    push ax
    mov dx, COM2 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dx, COM2
    out dx, al
    pop dx
    ret

poweroff:
    mov dx, 0xB004              ; PIIX4 PM1a_CNT (SeaBIOS puts the PM base at 0xB000)
    mov ax, 0x2000              ; SLP_EN, SLP_TYP=0 (S5 in QEMU's DSDT)
    out dx, ax
    mov dx, 0x604               ; q35-style base, in case
    out dx, ax
    lidt [null_idt]             ; last resort: triple fault -> reset -> -no-reboot exits
    int 3
    jmp $

null_idt:   dw 0, 0, 0
bootdrv:    db 0
s_markprefix: db "MARK ", 0
s_boot:     db "boot", 0
s_bootfail: db "boot-failed", 0

    times 510 - ($ - $$) db 0
    dw 0xAA55

; ---------------------------------------------------------------- stage 2 --
; CHS sector 2 = LBA 1, loaded right after the boot sector at 0:7E00.
stage2:
    mov si, s_reset
    call mark
    mov ah, 0x00
    mov dl, [bootdrv]
    int 0x13

    mov si, s_geometry
    call mark
    mov ah, 0x08
    mov dl, [bootdrv]
    push es
    int 0x13
    pop es
    mov [geom_cx], cx
    mov [geom_dx], dx
    mov ah, 0x15
    mov dl, [bootdrv]
    int 0x13
    mov [type_ah], ah
    mov ah, 0x16
    mov dl, [bootdrv]
    int 0x13
    mov [chg_ah], ah

    ; ---- whole-disk read, one call per track, DOS-style retries
    mov si, s_readscan
    call mark
    xor eax, eax
    mov [sum], eax
    mov byte [cyl], 0
.cyl_loop:
    mov byte [head], 0
.head_loop:
    mov byte [tries], 3
.try:
    mov ax, RBUF
    mov es, ax
    xor bx, bx
    mov ax, 0x0212              ; AH=02, 18 sectors
    mov ch, [cyl]
    mov cl, 1
    mov dh, [head]
    mov dl, [bootdrv]
    int 0x13
    jnc .ok
    inc word [readerr]
    mov ah, 0x00
    mov dl, [bootdrv]
    int 0x13
    dec byte [tries]
    jnz .try
    jmp .next
.ok:
    mov cx, 18 * 512
    call sum_buffer
.next:
    inc byte [head]
    cmp byte [head], 2
    jb .head_loop
    inc byte [cyl]
    cmp byte [cyl], 80
    jb .cyl_loop
    xor ax, ax
    mov es, ax

    ; ---- one multi-track read: 36 sectors from C5 H0 S1 (EOT=36, MT)
    mov si, s_readmt
    call mark
    mov ax, RBUF
    mov es, ax
    xor bx, bx
    mov ax, 0x0224
    mov cx, 0x0501
    mov dh, 0
    mov dl, [bootdrv]
    int 0x13
    mov [mt_ah], ah
    xor ax, ax
    mov es, ax

    ; ---- write, verify, read back
    mov si, s_write
    call mark
    mov al, 0x5A
    call fill_wbuf
    mov ax, WBUF
    mov es, ax
    xor bx, bx
    mov ax, 0x0312              ; AH=03, 18 sectors
    mov cx, (70 << 8) | 1
    mov dh, 0
    mov dl, [bootdrv]
    int 0x13
    call count_err
    xor bx, bx
    mov ax, 0x0303              ; 3 sectors
    mov cx, (71 << 8) | 7
    mov dh, 1
    mov dl, [bootdrv]
    int 0x13
    call count_err

    mov si, s_verify
    call mark
    mov ax, 0x0412
    mov cx, (70 << 8) | 1
    mov dh, 0
    mov dl, [bootdrv]
    int 0x13
    call count_err
    mov ax, 0x0403
    mov cx, (71 << 8) | 7
    mov dh, 1
    mov dl, [bootdrv]
    int 0x13
    call count_err

    mov si, s_readback
    call mark
    mov ax, RBUF
    mov es, ax
    xor bx, bx
    mov ax, 0x0212
    mov cx, (70 << 8) | 1
    mov dh, 0
    mov dl, [bootdrv]
    int 0x13
    call count_err
    mov cx, 18 * 512
    call compare
    xor bx, bx
    mov ax, 0x0203
    mov cx, (71 << 8) | 7
    mov dh, 1
    mov dl, [bootdrv]
    int 0x13
    call count_err
    mov cx, 3 * 512
    call compare
    xor ax, ax
    mov es, ax

    ; ---- format C78-79 H0-1 as DOS FORMAT does (set media type, format, verify)
    mov si, s_format
    call mark
    mov ah, 0x18                ; set media type for format: 80 cyl, 18 spt
    mov cx, (79 << 8) | 18
    mov dl, [bootdrv]
    push es
    int 0x13
    pop es
    mov [mt18_ah], ah
    mov ax, 0x1704              ; set DASD type: 1.44M medium in 1.44M drive
    mov dl, [bootdrv]
    int 0x13
    mov [dasd_ah], ah
    mov byte [cyl], 78
.fcyl:
    mov byte [head], 0
.fhead:
    ; build the 18-entry C,H,R,N table at 0:FMTTAB
    mov di, FMTTAB
    mov cl, 1
.ftab:
    mov al, [cyl]
    stosb
    mov al, [head]
    stosb
    mov al, cl
    stosb
    mov al, 2
    stosb
    inc cl
    cmp cl, 18
    jbe .ftab
    xor ax, ax
    mov es, ax
    mov bx, FMTTAB
    mov ax, 0x0512              ; AH=05 format, AL=18 sectors
    mov ch, [cyl]
    mov cl, 1
    mov dh, [head]
    mov dl, [bootdrv]
    int 0x13
    call count_fmterr
    mov ax, 0x0412              ; verify the track
    mov ch, [cyl]
    mov cl, 1
    mov dh, [head]
    mov dl, [bootdrv]
    int 0x13
    call count_fmterr
    inc byte [head]
    cmp byte [head], 2
    jb .fhead
    inc byte [cyl]
    cmp byte [cyl], 80
    jb .fcyl

    mov si, s_fmtwrite
    call mark
    mov al, 0xE5
    call fill_wbuf
    mov byte [cyl], 78
.wcyl:
    mov byte [head], 0
.whead:
    mov ax, WBUF
    mov es, ax
    xor bx, bx
    mov ax, 0x0312
    mov ch, [cyl]
    mov cl, 1
    mov dh, [head]
    mov dl, [bootdrv]
    int 0x13
    call count_err
    mov ax, RBUF
    mov es, ax
    xor bx, bx
    mov ax, 0x0212
    mov ch, [cyl]
    mov cl, 1
    mov dh, [head]
    mov dl, [bootdrv]
    int 0x13
    call count_err
    mov cx, 18 * 512
    call compare
    inc byte [head]
    cmp byte [head], 2
    jb .whead
    inc byte [cyl]
    cmp byte [cyl], 80
    jb .wcyl
    xor ax, ax
    mov es, ax

    ; ---- idle ~3 s so the BIOS turns the motor off (37 ticks)
    mov si, s_idle
    call mark
    sti
    mov eax, [0x046C]
    add eax, 55
    mov [deadline], eax
.idle:
    hlt
    mov eax, [0x046C]
    cmp eax, [deadline]
    jb .idle

    mov si, s_reread
    call mark
    mov ax, RBUF
    mov es, ax
    xor bx, bx
    mov ax, 0x0201
    mov cx, 0x0001
    mov dh, 0
    mov dl, [bootdrv]
    int 0x13
    call count_err
    xor ax, ax
    mov es, ax

    mov si, s_done
    call mark
    ; results on COM1
    mov si, r_readerr
    call com1_str
    mov ax, [readerr]
    call com1_hex16
    mov si, r_sum
    call com1_str
    mov ax, [sum + 2]
    call com1_hex16
    mov ax, [sum]
    call com1_hex16
    mov si, r_err
    call com1_str
    mov ax, [ioerr]
    call com1_hex16
    mov si, r_cmp
    call com1_str
    mov ax, [cmperr]
    call com1_hex16
    mov si, r_fmt
    call com1_str
    mov ax, [fmterr]
    call com1_hex16
    mov si, r_misc
    call com1_str
    mov al, [type_ah]
    call com1_hex8
    mov al, [chg_ah]
    call com1_hex8
    mov al, [mt_ah]
    call com1_hex8
    mov al, [mt18_ah]
    call com1_hex8
    mov al, [dasd_ah]
    call com1_hex8
    mov si, r_geom
    call com1_str
    mov ax, [geom_cx]
    call com1_hex16
    mov ax, [geom_dx]
    call com1_hex16
    mov al, 10
    call com1_ch
    ; wait until COM1 has sent everything
    mov dx, COM1 + 5
.drain:
    in al, dx
    test al, 0x40
    jz .drain
    jmp poweroff

; ------------------------------------------------------------- helpers ----
count_err:                      ; CF from INT 13h -> ioerr++
    jnc .r
    inc word [ioerr]
.r: ret

count_fmterr:
    jnc .r
    inc word [fmterr]
.r: ret

sum_buffer:                     ; add CX bytes at ES:0 to [sum]
    push si
    xor si, si
    mov edx, [sum]
.l: movzx eax, byte [es:si]
    add edx, eax
    inc si
    loop .l
    mov [sum], edx
    pop si
    ret

fill_wbuf:                      ; fill WBUF:0..18*512 with AL + i*7 pattern
    push es
    push di
    push cx
    mov cx, WBUF
    mov es, cx
    xor di, di
    mov cx, 18 * 512
.l: stosb
    add al, 7
    loop .l
    pop cx
    pop di
    pop es
    ret

compare:                        ; compare CX bytes RBUF:0 with WBUF:0 -> cmperr
    push ds
    push es
    push si
    push di
    mov ax, RBUF
    mov ds, ax
    mov ax, WBUF
    mov es, ax
    xor si, si
    xor di, di
    repe cmpsb
    pop di
    pop si
    pop es
    pop ds
    je .r
    inc word [cmperr]
.r: ret

com1_str:
    lodsb
    test al, al
    jz .d
    call com1_ch
    jmp com1_str
.d: ret

com1_ch:
    push dx
    push ax
    mov dx, COM1 + 5
.w: in al, dx
    test al, 0x20
    jz .w
    pop ax
    mov dx, COM1
    out dx, al
    pop dx
    ret

com1_hex16:
    push ax
    mov al, ah
    call com1_hex8
    pop ax
com1_hex8:
    push ax
    shr al, 4
    call .nib
    pop ax
.nib:
    push ax
    and al, 15
    add al, '0'
    cmp al, '9'
    jbe .p
    add al, 7
.p: call com1_ch
    pop ax
    ret

s_reset:    db "reset", 0
s_geometry: db "geometry", 0
s_readscan: db "readscan", 0
s_readmt:   db "read-mt", 0
s_write:    db "write", 0
s_verify:   db "verify", 0
s_readback: db "readback", 0
s_format:   db "format", 0
s_fmtwrite: db "format-write", 0
s_idle:     db "idle", 0
s_reread:   db "reread", 0
s_done:     db "done", 0
r_readerr:  db "INT13 readscan-errors=", 0
r_sum:      db " bytesum=", 0
r_err:      db " io-errors=", 0
r_cmp:      db " compare-errors=", 0
r_fmt:      db " format-errors=", 0
r_misc:     db " ah15/16/mt/18/17=", 0
r_geom:     db " ah08-cx/dx=", 0

align 4
sum:        dd 0
deadline:   dd 0
readerr:    dw 0
ioerr:      dw 0
cmperr:     dw 0
fmterr:     dw 0
geom_cx:    dw 0
geom_dx:    dw 0
cyl:        db 0
head:       db 0
tries:      db 0
type_ah:    db 0
chg_ah:     db 0
mt_ah:      db 0
mt18_ah:    db 0
dasd_ah:    db 0

stage2_end:
%if stage2_end - stage2 > STAGE2_SECS * 512
%error "stage 2 does not fit in STAGE2_SECS sectors"
%endif
    times (1 + STAGE2_SECS) * 512 - ($ - $$) db 0
